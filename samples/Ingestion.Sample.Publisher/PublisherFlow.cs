using System.Net.Http.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Statements;
using Ingestion.Contracts.Uploads;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ingestion.Sample.Publisher;

/// <summary>
/// The whole conversation with Ingestion, once: put a CSV into S3, submit it and await its
/// acceptance, await its outcome, then ask for a statement and print its download link.
/// The exit code says how it went (0: all done; 1: a job was refused, failed or was cancelled; 2: no answer
/// in time; 3: anything else, such as S3 or the API refusing this service).
/// </summary>
public sealed class PublisherFlow(
    IAmazonS3 s3,
    IRequestClient<SubmitUpload> submitUpload,
    IRequestClient<BuildStatement> buildStatement,
    JobOutcomes outcomes,
    IOptions<SampleOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<PublisherFlow> logger) : BackgroundService
{
    private readonly SampleOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            Environment.ExitCode = await RunAsync(stoppingToken);
        }
        catch (RequestFaultException e)
        {
            // Ingestion refused the command (an unknown dataset): the fault says why.
            logger.LogError("Ingestion refused the job: {Reason}", e.Fault?.Exceptions.FirstOrDefault()?.Message ?? e.Message);
            Environment.ExitCode = 1;
        }
        catch (Exception e) when (e is RequestTimeoutException or TimeoutException)
        {
            logger.LogError("No answer from Ingestion in time: {Message}", e.Message);
            Environment.ExitCode = 2;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "The flow stopped");
            Environment.ExitCode = 3;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    private async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        // The job id is ours: kept with the file, it makes a retried submit the same job.
        var uploadId = NewId.NextGuid();
        var key = $"{_options.KeyPrefix}{uploadId:N}.csv";
        await PutAsync(key, cancellationToken);

        var upload = await SubmitAndAwaitAsync(uploadId,
            id => submitUpload.GetResponse<JobAccepted>(new SubmitUpload(id, _options.TenantId, _options.Dataset, _options.Bucket, key),
                cancellationToken),
            cancellationToken);
        if (upload is not JobCompleted loaded)
        {
            return Report(upload);
        }

        Console.WriteLine($"upload {loaded.JobId} completed: {Figures(loaded.Counts)}");

        var statement = await SubmitAndAwaitAsync(NewId.NextGuid(),
            id => buildStatement.GetResponse<JobAccepted>(new BuildStatement(id, _options.TenantId, _options.AccountId, _options.From, _options.To),
                cancellationToken),
            cancellationToken);
        if (statement is not JobCompleted ready)
        {
            return Report(statement);
        }

        Console.WriteLine($"statement {ready.JobId} completed: {Figures(ready.Counts)}");
        Console.WriteLine($"statement link: {await DownloadLinkAsync(ready.Links["download"], cancellationToken)}");
        return 0;
    }

    /// <summary>Streams the file to S3 as it is read.</summary>
    private async Task PutAsync(string key, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(_options.CsvPath);
        var bytes = file.Length;
        await s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = _options.Bucket,
            Key = key,
            InputStream = file,
            ContentType = "text/csv",

            // Plain signed bodies: some S3-compatible servers store aws-chunked framing as content.
            UseChunkEncoding = false,
        }, cancellationToken);
        logger.LogInformation("Put {Bytes} bytes at s3://{Bucket}/{Key}", bytes, _options.Bucket, key);
    }

    private async Task<IJobOutcome> SubmitAndAwaitAsync(Guid jobId, Func<Guid, Task<Response<JobAccepted>>> submit,
        CancellationToken cancellationToken)
    {
        var outcome = outcomes.Expect(jobId);
        try
        {
            var accepted = (await submit(jobId)).Message;
            Console.WriteLine($"{accepted.Kind} {accepted.JobId} accepted: {accepted.Status}");
            return await outcome.WaitAsync(_options.Timeout, cancellationToken);
        }
        finally
        {
            outcomes.Forget(jobId);
        }
    }

    private static int Report(IJobOutcome outcome)
    {
        Console.WriteLine(outcome switch
        {
            JobFailed failed => $"{failed.Kind} {failed.JobId} failed: {failed.Error.Code}: {failed.Error.Message} (retry: POST {failed.Links["retry"]})",
            JobCancelled cancelled => $"{cancelled.Kind} {cancelled.JobId} cancelled by {cancelled.CancelledBy}",
            _ => $"{outcome.Kind} {outcome.JobId} ended: {outcome.GetType().Name}",
        });
        return 1;
    }

    /// <summary>The API presigns the link for as long as its settings allow; the event carries only the path to ask.</summary>
    private async Task<string> DownloadLinkAsync(string path, CancellationToken cancellationToken)
    {
        using var api = new HttpClient { BaseAddress = _options.ApiUrl };
        api.DefaultRequestHeaders.Add("X-Api-Key", _options.ApiKey);
        var link = await api.GetFromJsonAsync<DownloadLink>(path, cancellationToken)
            ?? throw new InvalidOperationException($"GET {path} answered no link.");
        return link.Url;
    }

    private static string Figures(IReadOnlyDictionary<string, long> counts) =>
        string.Join(' ', counts.Select(c => $"{c.Key}={c.Value}"));

    private sealed record DownloadLink(string Url, DateTimeOffset ExpiresAt);
}
