using Ingestion.Api.Datasets;
using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Limits;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Storage;
using Ingestion.Platform.Webhooks;
using MassTransit;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Uploads;

public static class UploadsApi
{
    public static IEndpointRouteBuilder MapUploadsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/datasets/{name}/uploads")
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithTags("Uploads")
            .MapPost("/", Upload);
        return app;
    }

    /// <summary>
    /// Streams a CSV (raw <c>text/csv</c> body, or the <c>file</c> part of a multipart form)
    /// into S3 and creates its job. 202 once the object is complete and the job recorded.
    /// </summary>
    public static async Task<Results<Accepted<JobAccepted>, ProblemHttpResult>> Upload(
        string name,
        HttpContext context,
        DatasetCatalog datasets,
        JobStore jobs,
        UploadIntake intake,
        ObjectStore store,
        CallbackGuard callbacks,
        JobRateLimit rateLimit,
        IntakeSlots intakeSlots,
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

        // Dialect options in the query string are checked before a byte of the body is read: together for a text/csv body,
        // each on its own for a form, whose fields may complete or override them (header=false here, fields there).
        var dialectOptions = UploadDialectOptions.FromQuery(request.Query);
        if (UploadDialectOptions.Resolve(dataset, dialectOptions, complete: BodyKind(request.ContentType) != Body.Multipart).Problem is { } badQuery)
        {
            return badQuery;
        }

        var requestedFormat = UploadFormatOption.FromQuery(request.Query);
        if (UploadFormatOption.Resolve(dataset, requestedFormat, dialectOptions).Problem is { } badFormatQuery)
        {
            return badFormatQuery;
        }

        if (Idempotency.Read(request, out var idempotencyKey) is { } invalidKey)
        {
            return invalidKey;
        }

        if (idempotencyKey is not null)
        {
            var earlier = await jobs.FindByIdempotencyKeyAsync(tenant, idempotencyKey, cancellationToken);
            if (earlier is not null)
            {
                return Replay(context, earlier, dataset.Name);
            }
        }

        if (await JobLimits.CheckAsync(context, caller, rateLimit, cancellationToken) is { } tooMany)
        {
            return tooMany;
        }

        var kind = BodyKind(request.ContentType);
        if (kind == Body.Unsupported)
        {
            return Problem(415, "Unsupported content type",
                $"Send the file as text/csv, application/x-ndjson or application/vnd.apache.parquet (application/gzip or application/zstd when compressed), or as the 'file' part of multipart/form-data; got '{request.ContentType ?? "none"}'.");
        }

        // A compressed body is stored as sent and decompressed by the worker, which knows gzip and zstd by their first bytes.
        if (request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding && !ReadableContentEncodings.Contains(encoding.Trim()))
        {
            return Problem(415, "Unsupported Content-Encoding",
                $"Content-Encoding '{encoding}' cannot be read: send the file uncompressed, or compressed with gzip or zstd.");
        }

        if (request.ContentLength > intake.MaxBytes)
        {
            return TooLarge(intake.MaxBytes);
        }

        var (admitted, busy) = await UploadAdmission.EnterAsync(context, intakeSlots, tenant, cancellationToken);
        if (busy is not null)
        {
            return busy;
        }

        await using var inFlight = admitted;

        // The limit is enforced while streaming, so Kestrel's own (30 MB) must not cut in first.
        context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;

        var jobId = NewId.NextGuid();
        diagnostics.Set("JobId", jobId);
        // The key ends with the file's format and compression (.jsonl, .csv.gz): a form's format field comes before its file.
        string KeyFor(string? declared, byte[] head) =>
            UploadFormat.KeyFor(tenant, jobId, UploadFormat.Parse(declared, out _) ?? dataset.FileFormat, head);
        StoredObject stored;
        string? callbackUrl;
        try
        {
            if (kind == Body.Raw)
            {
                stored = await intake.StoreAsync(request.Body, request.ContentLength, head => KeyFor(requestedFormat, head), "text/csv",
                    intake.MaxBytes, cancellationToken);
                callbackUrl = null;
            }
            else
            {
                var form = await MultipartUpload.StoreAsync(request, intake, store,
                    (fields, head) => KeyFor(fields.GetValueOrDefault(UploadFormat.Option) ?? requestedFormat, head), "text/csv",
                    intake.MaxBytes, FormFields(callbacks, tenant), new HashSet<string> { UploadFormat.Option }, cancellationToken);
                stored = form.Stored;
                callbackUrl = form.Fields.GetValueOrDefault("callbackUrl");
                UploadDialectOptions.AddFormFields(dialectOptions, form.Fields);
                requestedFormat = form.Fields.GetValueOrDefault(UploadFormat.Option) ?? requestedFormat;
            }
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

        var key = stored.Key;
        var (dialect, badDialect) = UploadDialectOptions.Resolve(dataset, dialectOptions);
        var (format, badFormat) = UploadFormatOption.Resolve(dataset, requestedFormat, dialectOptions);
        if (badDialect is not null || badFormat is not null)
        {
            await store.DeleteAsync(key, CancellationToken.None);
            return badFormat ?? badDialect!;
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
            Dialect = dialect,
            Format = format,
        };
        var submit = new SubmitUpload(jobId, tenant, dataset.Name, store.Bucket, key, callbackUrl);
        JobCreation created;
        try
        {
            created = await jobs.CreateAsync(job, submit, Queues.Address(Queues.UploadJobs), caller.Actor,
                JobLimits.For(caller, rateLimit), cancellationToken);
        }
        catch (Exception)
        {
            // No job, so no object either: the client retries the whole upload.
            await store.DeleteAsync(key, CancellationToken.None);
            throw;
        }

        if (created != JobCreation.Created)
        {
            await store.DeleteAsync(key, CancellationToken.None);
        }

        switch (created)
        {
            case JobCreation.Duplicate:
                // A concurrent request with the same key won the race: it is the job.
                var winner = await jobs.FindByIdempotencyKeyAsync(tenant, idempotencyKey!, cancellationToken);
                return Replay(context, winner!, dataset.Name);
            case JobCreation.OverLimit:
                // Another request took the last place in the window while this body streamed.
                return await JobLimits.RefusedAsync(context, caller, rateLimit);
        }

        return Idempotency.Accepted(job);
    }

    /// <summary>The text fields an upload form may carry, with their checks (a callback URL is resolved and its addresses checked).</summary>
    private static Dictionary<string, Func<string, CancellationToken, Task<string?>>> FormFields(CallbackGuard callbacks, string tenant)
    {
        var fields = new Dictionary<string, Func<string, CancellationToken, Task<string?>>>
        {
            ["callbackUrl"] = (url, cancellationToken) => callbacks.RefusalAsync(url, tenant, cancellationToken),
        };
        UploadDialectOptions.AcceptFormFields(fields);
        // Checked with the dialect once the form is read, so a bad value gets the same 400 naming the field as in the query.
        fields[UploadFormat.Option] = (_, _) => Task.FromResult<string?>(null);
        return fields;
    }

    private static Results<Accepted<JobAccepted>, ProblemHttpResult> Replay(HttpContext context, JobState earlier, string dataset) =>
        Idempotency.Replay(context, earlier, earlier is UploadJob && earlier.Dataset == dataset,
            earlier is UploadJob ? $"an upload to dataset '{earlier.Dataset}'" : $"a {earlier.Kind} job");

    private enum Body
    {
        Unsupported,
        Raw,
        Multipart,
    }

    private static readonly HashSet<string> ReadableContentEncodings = new(StringComparer.OrdinalIgnoreCase) { "gzip", "x-gzip", "zstd", "identity" };

    private static Body BodyKind(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var type))
        {
            return Body.Unsupported;
        }

        return type.MediaType.Value?.ToLowerInvariant() switch
        {
            "text/csv" or "application/csv" => Body.Raw,
            "application/x-ndjson" or "application/jsonl" or "application/vnd.apache.parquet" or "application/octet-stream" => Body.Raw,
            "application/gzip" or "application/x-gzip" or "application/zstd" => Body.Raw,
            "multipart/form-data" => Body.Multipart,
            _ => Body.Unsupported,
        };
    }

    private static ProblemHttpResult TooLarge(long limit) =>
        Problem(413, "Upload too large", $"The limit is {limit:N0} bytes; nothing was kept.");

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail);
}

