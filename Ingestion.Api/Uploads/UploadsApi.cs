using Ingestion.Api.Datasets;
using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Storage;
using MassTransit;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Uploads;

public static class UploadsApi
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    private const int MaxFormFieldBytes = 4096;

    public static IEndpointRouteBuilder MapUploadsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/datasets/{name}/uploads")
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithTags("Uploads")
            .MapPost("/", Upload);
        return app;
    }

    public sealed record UploadAccepted(Guid JobId, string Status, string StatusUrl);

    /// <summary>
    /// Streams a CSV (raw <c>text/csv</c> body, or the <c>file</c> part of a multipart form)
    /// into S3 and creates its job. 202 once the object is complete and the job recorded.
    /// </summary>
    public static async Task<Results<Accepted<UploadAccepted>, ProblemHttpResult>> Upload(
        string name,
        HttpContext context,
        DatasetCatalog datasets,
        JobStore jobs,
        UploadIntake intake,
        ObjectStore store,
        Serilog.IDiagnosticContext diagnostics,
        CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        var tenant = caller.TenantId!;
        var request = context.Request;

        var dataset = await datasets.FindAsync(tenant, name, cancellationToken);
        if (dataset is null)
        {
            return DatasetsApi.UnknownDataset(name);
        }

        var idempotencyKey = request.Headers[IdempotencyKeyHeader].FirstOrDefault();
        if (idempotencyKey is not null)
        {
            if (idempotencyKey.Length is 0 or > 255 || idempotencyKey.Any(c => c is < '!' or > '~'))
            {
                return Problem(400, "Invalid Idempotency-Key", "Use 1 to 255 visible ASCII characters, e.g. a UUID.");
            }

            var earlier = await jobs.FindByIdempotencyKeyAsync(tenant, idempotencyKey, cancellationToken);
            if (earlier is not null)
            {
                return Replay(context, earlier, dataset.Name);
            }
        }

        var kind = BodyKind(request.ContentType);
        if (kind == Body.Unsupported)
        {
            return Problem(415, "Unsupported content type",
                $"Send the CSV as text/csv, or as the 'file' part of multipart/form-data; got '{request.ContentType ?? "none"}'.");
        }

        if (request.ContentLength > intake.MaxBytes)
        {
            return TooLarge(intake.MaxBytes);
        }

        // The limit is enforced while streaming, so Kestrel's own (30 MB) must not cut in first.
        context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;

        var jobId = NewId.NextGuid();
        diagnostics.Set("JobId", jobId);
        var key = $"uploads/{tenant}/{jobId:N}.csv";
        StoredObject stored;
        string? callbackUrl;
        try
        {
            (stored, callbackUrl) = kind == Body.Csv
                ? (await intake.StoreAsync(request.Body, request.ContentLength, key, cancellationToken), null)
                : await StoreMultipartAsync(request, intake, store, key, cancellationToken);
        }
        catch (UploadTooLargeException e)
        {
            return TooLarge(e.Limit);
        }
        catch (EmptyUploadException)
        {
            return Problem(400, "Empty upload", "The CSV has no bytes.");
        }
        catch (UploadFormException e)
        {
            return Problem(400, "Invalid upload form", e.Message);
        }

        var now = DateTimeOffset.UtcNow;
        var job = new UploadJob
        {
            CorrelationId = jobId,
            CurrentState = UploadJob.States.Uploaded,
            TenantId = tenant,
            IdempotencyKey = idempotencyKey,
            CallbackUrl = callbackUrl,
            CreatedAt = now,
            UpdatedAt = now,
            DatasetName = dataset.Name,
            Bucket = store.Bucket,
            Key = key,
            Bytes = stored.Bytes,
            Sha256 = stored.Sha256,
        };
        var submit = new SubmitUpload(jobId, tenant, dataset.Name, store.Bucket, key, callbackUrl);
        try
        {
            if (!await jobs.CreateAsync(job, submit, Queues.Address(Queues.UploadJobs), cancellationToken))
            {
                // A concurrent request with the same key won the race: it is the job.
                await store.DeleteAsync(key, CancellationToken.None);
                var winner = await jobs.FindByIdempotencyKeyAsync(tenant, idempotencyKey!, cancellationToken);
                return Replay(context, winner!, dataset.Name);
            }
        }
        catch (Exception)
        {
            // No job, so no object either: the client retries the whole upload.
            await store.DeleteAsync(key, CancellationToken.None);
            throw;
        }

        return Accepted(job);
    }

    private static Results<Accepted<UploadAccepted>, ProblemHttpResult> Replay(HttpContext context, JobState earlier, string dataset)
    {
        if (earlier.Dataset != dataset)
        {
            return Problem(422, "Idempotency-Key reused",
                $"This key already named an upload to dataset '{earlier.Dataset}'; use a new key for a different request.");
        }

        context.Response.Headers["Idempotent-Replayed"] = "true";
        return Accepted(earlier);
    }

    private static Accepted<UploadAccepted> Accepted(JobState job)
    {
        var statusUrl = JobsApi.StatusUrl(job.CorrelationId);
        return TypedResults.Accepted(statusUrl, new UploadAccepted(job.CorrelationId, JobView.StatusOf(job), statusUrl));
    }

    private static async Task<(StoredObject Stored, string? CallbackUrl)> StoreMultipartAsync(
        HttpRequest request, UploadIntake intake, ObjectStore store, string key, CancellationToken cancellationToken)
    {
        var boundary = HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(request.ContentType).Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            throw new UploadFormException("The multipart/form-data content type has no boundary.");
        }

        var reader = new MultipartReader(boundary, request.Body) { BodyLengthLimit = null };
        StoredObject? stored = null;
        string? callbackUrl = null;
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                var disposition = section.GetContentDispositionHeader();
                switch (disposition?.Name.Value)
                {
                    case "file" when disposition.IsFileDisposition() || disposition.FileName.HasValue:
                        if (stored is not null)
                        {
                            throw new UploadFormException("The form has more than one 'file' part; send one CSV per upload.");
                        }

                        stored = await intake.StoreAsync(section.Body, null, key, cancellationToken);
                        break;
                    case "callbackUrl":
                        callbackUrl = await ReadFieldAsync(section, cancellationToken);
                        if (!CallbackUrl.TryValidate(callbackUrl, out var problem))
                        {
                            throw new UploadFormException($"callbackUrl {problem}");
                        }

                        break;
                    default:
                        throw new UploadFormException(
                            $"Unexpected form part '{disposition?.Name.Value}'; send a 'file' part and, optionally, 'callbackUrl'.");
                }
            }
        }
        catch (Exception) when (stored is not null)
        {
            await store.DeleteAsync(key, CancellationToken.None);
            throw;
        }

        return stored is null
            ? throw new UploadFormException("The form has no 'file' part with the CSV.")
            : (stored, callbackUrl);
    }

    private static async Task<string> ReadFieldAsync(MultipartSection section, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxFormFieldBytes + 1];
        var length = 0;
        int read;
        while ((read = await section.Body.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
            if (length > MaxFormFieldBytes)
            {
                throw new UploadFormException($"The form field '{section.GetContentDispositionHeader()?.Name}' is longer than {MaxFormFieldBytes} bytes.");
            }
        }

        return System.Text.Encoding.UTF8.GetString(buffer, 0, length).Trim();
    }

    private enum Body
    {
        Unsupported,
        Csv,
        Multipart,
    }

    private static Body BodyKind(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var type))
        {
            return Body.Unsupported;
        }

        return type.MediaType.Value?.ToLowerInvariant() switch
        {
            "text/csv" or "application/csv" => Body.Csv,
            "multipart/form-data" => Body.Multipart,
            _ => Body.Unsupported,
        };
    }

    private static ProblemHttpResult TooLarge(long limit) =>
        Problem(413, "Upload too large", $"The limit is {limit:N0} bytes; nothing was kept.");

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);
}

public sealed class UploadFormException(string message) : Exception(message);
