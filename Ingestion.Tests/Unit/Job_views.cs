using System.Text.Json;
using System.Text.RegularExpressions;
using Ingestion.Api.Jobs;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Webhooks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Ingestion.Platform.Storage;

namespace Ingestion.Tests.Unit;

/// <summary>
/// What clients receive for each kind of job, byte for byte: the job as the API shows it and
/// the body of its webhook. The expected texts were taken from the API before job kinds became
/// a registry, so a kind re-expressed on it must answer exactly as before.
/// </summary>
public sealed partial class Job_views
{
    private static readonly DateTimeOffset Created = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly Guid Id = Guid.Parse("0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77");

    private static readonly Dictionary<string, string> Views = new()
    {
        ["sync-syncing"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"sync","status":"syncing","tenant":"acme","dataset":"events","bytes":null,"sha256":null,"dialect":null,"format":null,"sync":{"source":"events","mode":"incremental","since":"2026-02-01T00:00:00+00:00","until":null,"partitions":1},"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:11+00:00","startedAt":"2026-03-01T09:00:01+00:00","completedAt":null,"progress":{"requests":12,"records":50000,"rowsLoaded":49990,"duplicates":7,"rejects":3,"http429":1,"budgetShare":0.97,"expectedTotal":100000,"eta":"2026-03-01T09:00:21+00:00"},"error":null,"rejects":null,"rejectLimits":null,"statement":null,"document":null,"reconciliation":null,"syncRejects":null,"cancellation":null,"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history","cancel":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/cancel"}}
            """,
        ["sync-synced"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"sync","status":"synced","tenant":null,"dataset":"events","bytes":null,"sha256":null,"dialect":null,"format":null,"sync":{"source":"events","mode":"incremental","since":"2026-02-01T00:00:00+00:00","until":null,"partitions":1},"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:11+00:00","startedAt":"2026-03-01T09:00:01+00:00","completedAt":"2026-03-01T09:00:20+00:00","progress":{"requests":21,"records":100003,"rowsLoaded":99998,"duplicates":3,"rejects":2,"http429":0,"budgetShare":0,"expectedTotal":100000,"eta":null},"error":null,"rejects":null,"rejectLimits":null,"statement":null,"document":null,"reconciliation":{"expected":100000,"distinctKeysLoaded":99998,"duplicates":3,"rejects":2,"difference":0,"duplicateKeys":{"keys":[{"key":{"id":"6d1f0c3e-9b7a-4c55-8e21-0f4a2b9c7d10"},"times":2,"places":[{"partition":0,"page":4,"record":391},{"partition":0,"page":9,"record":877}]},{"key":{"id":"a04e5b7c-2d13-4f6a-9c88-51b2e3f0d6a9"},"times":1,"places":[{"partition":0,"page":12,"record":1150}]}],"complete":true}},"syncRejects":{"count":2,"url":"<presigned>","expiresAt":"<presigned>"},"cancellation":null,"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history"}}
            """,
        ["upload-processing"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"upload","status":"processing","tenant":"acme","dataset":"transactions","bytes":8192,"sha256":"ab12","dialect":null,"format":null,"sync":null,"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:07+00:00","startedAt":"2026-03-01T09:00:02+00:00","completedAt":null,"progress":{"rowsLoaded":120,"rowsRejected":3,"bytesRead":4096,"bytesTotal":8192},"error":null,"rejects":{"count":3,"url":"<presigned>","expiresAt":"<presigned>"},"rejectLimits":null,"statement":null,"document":null,"reconciliation":null,"syncRejects":null,"cancellation":null,"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history","cancel":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/cancel"}}
            """,
        ["upload-cancelled"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"upload","status":"cancelled","tenant":null,"dataset":"transactions","bytes":8192,"sha256":"ab12","dialect":null,"format":null,"sync":null,"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:07+00:00","startedAt":null,"completedAt":"2026-03-01T09:01:00+00:00","progress":{"rowsLoaded":0,"rowsRejected":0,"bytesRead":0,"bytesTotal":8192},"error":null,"rejects":null,"rejectLimits":null,"statement":null,"document":null,"reconciliation":null,"syncRejects":null,"cancellation":{"by":"key:acme-1","at":"2026-03-01T09:01:00+00:00","stoppedAfterLine":5001},"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history","retry":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/retry","webhooks":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/webhooks"}}
            """,
        ["upload-failed"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"upload","status":"failed","tenant":null,"dataset":"transactions","bytes":8192,"sha256":"ab12","dialect":null,"format":null,"sync":null,"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:07+00:00","startedAt":null,"completedAt":"2026-03-01T09:00:05+00:00","progress":{"rowsLoaded":0,"rowsRejected":0,"bytesRead":0,"bytesTotal":8192},"error":{"code":"missing_column","message":"Column 'amount' is missing.","at":"2026-03-01T09:00:05+00:00"},"rejects":null,"rejectLimits":null,"statement":null,"document":null,"reconciliation":null,"syncRejects":null,"cancellation":null,"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history","retry":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/retry"}}
            """,
        ["statement-rendering"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"rendering","tenant":"acme","dataset":"transactions","bytes":null,"sha256":null,"dialect":null,"format":null,"sync":null,"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:09+00:00","startedAt":null,"completedAt":null,"progress":{"linesRendered":480,"linesTotal":960,"pagesRendered":13,"pagesTotal":24,"volumes":1},"error":null,"rejects":null,"rejectLimits":null,"statement":{"accountId":42,"from":"2026-01-01","to":"2026-01-31"},"document":null,"reconciliation":null,"syncRejects":null,"cancellation":null,"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history","cancel":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/cancel"}}
            """,
        ["statement-ready"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"ready","tenant":null,"dataset":"transactions","bytes":null,"sha256":null,"dialect":null,"format":null,"sync":null,"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:09+00:00","startedAt":null,"completedAt":"2026-03-01T09:00:30+00:00","progress":{"linesRendered":0,"linesTotal":960,"pagesRendered":0,"pagesTotal":24,"volumes":1},"error":null,"rejects":null,"rejectLimits":null,"statement":{"accountId":42,"from":"2026-01-01","to":"2026-01-31"},"document":{"contentType":"application/pdf","bytes":123456,"expiresAt":"2099-01-01T00:00:00+00:00","expired":false,"deletedAt":null},"reconciliation":null,"syncRejects":null,"cancellation":null,"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history","webhooks":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/webhooks","download":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/download"}}
            """,
        ["statement-expired"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"ready","tenant":null,"dataset":"transactions","bytes":null,"sha256":null,"dialect":null,"format":null,"sync":null,"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:09+00:00","startedAt":null,"completedAt":null,"progress":{"linesRendered":0,"linesTotal":960,"pagesRendered":0,"pagesTotal":24,"volumes":1},"error":null,"rejects":null,"rejectLimits":null,"statement":{"accountId":42,"from":"2026-01-01","to":"2026-01-31"},"document":{"contentType":"application/zip","bytes":99,"expiresAt":"2001-01-01T00:00:00+00:00","expired":true,"deletedAt":"2001-01-02T00:00:00+00:00"},"reconciliation":null,"syncRejects":null,"cancellation":null,"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history"}}
            """,
        ["statement-cancelled"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"cancelled","tenant":"acme","dataset":"transactions","bytes":null,"sha256":null,"dialect":null,"format":null,"sync":null,"index":null,"createdAt":"2026-03-01T09:00:00+00:00","updatedAt":"2026-03-01T09:00:09+00:00","startedAt":null,"completedAt":"2026-03-01T09:00:03+00:00","progress":{"linesRendered":0,"linesTotal":960,"pagesRendered":0,"pagesTotal":24,"volumes":1},"error":null,"rejects":null,"rejectLimits":null,"statement":{"accountId":42,"from":"2026-01-01","to":"2026-01-31"},"document":null,"reconciliation":null,"syncRejects":null,"cancellation":{"by":"ops:alice","at":"2026-03-01T09:00:03+00:00","stoppedAfterLine":null},"links":{"self":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","stream":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/stream","history":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/history","retry":"/v1/jobs/0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77/retry"}}
            """,
    };

    private static readonly Dictionary<string, string> WebhookBodies = new()
    {
        ["sync-syncing"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"sync","status":"syncing","counts":{"requests":12,"records":50000,"rowsLoaded":49990,"duplicates":7,"rejects":3},"timestamp":"2026-03-01T09:00:11+00:00"}
            """,
        ["sync-synced"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"sync","status":"synced","counts":{"requests":21,"records":100003,"rowsLoaded":99998,"duplicates":3,"rejects":2},"timestamp":"2026-03-01T09:00:20+00:00"}
            """,
        ["upload-processing"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"upload","status":"processing","counts":{"rowsLoaded":120,"rowsRejected":3},"timestamp":"2026-03-01T09:00:07+00:00"}
            """,
        ["upload-cancelled"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"upload","status":"cancelled","counts":{"rowsLoaded":0,"rowsRejected":0},"timestamp":"2026-03-01T09:01:00+00:00"}
            """,
        ["upload-failed"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"upload","status":"failed","counts":{"rowsLoaded":0,"rowsRejected":0},"error":{"code":"missing_column","message":"Column \u0027amount\u0027 is missing."},"timestamp":"2026-03-01T09:00:05+00:00"}
            """,
        ["statement-rendering"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"rendering","counts":{"lines":960,"pages":24},"timestamp":"2026-03-01T09:00:09+00:00"}
            """,
        ["statement-ready"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"ready","counts":{"lines":960,"pages":24},"timestamp":"2026-03-01T09:00:30+00:00"}
            """,
        ["statement-expired"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"ready","counts":{"lines":960,"pages":24},"timestamp":"2026-03-01T09:00:09+00:00"}
            """,
        ["statement-cancelled"] = """
            {"jobId":"0b5e7c2a-1f00-4d2e-9a51-6f3c2d1e0a77","kind":"statement","status":"cancelled","counts":{"lines":960,"pages":24},"timestamp":"2026-03-01T09:00:03+00:00"}
            """,
    };

    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData("upload-processing", Upload(job =>
        {
            job.CurrentState = "Processing";
            job.StartedAt = Created.AddSeconds(2);
            job.RowsLoaded = 120;
            job.RowsRejected = 3;
            job.BytesRead = 4096;
            job.RejectsKey = "rejects/acme/x.csv";
        }), true, true);
        yield return new TestCaseData("upload-cancelled", Upload(job =>
        {
            job.CurrentState = "Cancelled";
            job.CancelledBy = "key:acme-1";
            job.CompletedAt = Created.AddMinutes(1);
            job.StoppedAfterLine = 5001;
            job.CallbackUrl = "https://example.com/hook";
        }), false, false);
        yield return new TestCaseData("upload-failed", Upload(job =>
        {
            job.CurrentState = "Failed";
            job.Error = new JobError("missing_column", "Column 'amount' is missing.", Created.AddSeconds(5));
            job.CompletedAt = Created.AddSeconds(5);
        }), false, false);
        yield return new TestCaseData("statement-rendering", Statement(job =>
        {
            job.CurrentState = "Rendering";
            job.LinesRendered = 480;
            job.PagesRendered = 13;
        }), true, false);
        yield return new TestCaseData("statement-ready", Statement(job =>
        {
            job.CurrentState = "Ready";
            job.DocumentKey = "documents/acme/x/statement.pdf";
            job.DocumentBytes = 123456;
            job.ExpiresAt = new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero);
            job.CompletedAt = Created.AddSeconds(30);
            job.CallbackUrl = "https://example.com/hook";
        }), false, false);
        yield return new TestCaseData("statement-expired", Statement(job =>
        {
            job.CurrentState = "Ready";
            job.DocumentKey = "documents/acme/x/statement.zip";
            job.ContentType = "application/zip";
            job.DocumentBytes = 99;
            job.ExpiresAt = new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero);
            job.DocumentDeletedAt = new DateTimeOffset(2001, 1, 2, 0, 0, 0, TimeSpan.Zero);
        }), false, false);
        yield return new TestCaseData("statement-cancelled", Statement(job =>
        {
            job.CurrentState = "Cancelled";
            job.CancelledBy = "ops:alice";
            job.CompletedAt = Created.AddSeconds(3);
        }), true, false);
    }

    private static IEnumerable<TestCaseData> SyncCases()
    {
        yield return new TestCaseData("sync-syncing", Sync(job =>
        {
            job.CurrentState = "Syncing";
            job.StartedAt = Created.AddSeconds(1);
            job.Requests = 12;
            job.Records = 50_000;
            job.RowsLoaded = 49_990;
            job.Duplicates = 7;
            job.Rejects = 3;
            job.Http429 = 1;
            job.BudgetShare = 0.97;
            job.ExpectedTotal = 100_000;
        }), true, false);
        yield return new TestCaseData("sync-synced", Sync(job =>
        {
            job.CurrentState = "Synced";
            job.StartedAt = Created.AddSeconds(1);
            job.CompletedAt = Created.AddSeconds(20);
            job.Requests = 21;
            job.Records = 100_003;
            job.RowsLoaded = 99_998;
            job.Duplicates = 3;
            job.Rejects = 2;
            job.ExpectedTotal = 100_000;
            job.RejectsKey = "rejects/acme/sync-x.csv";
        }), false, true);
    }

    [TestCaseSource(nameof(Cases))]
    [TestCaseSource(nameof(SyncCases))]
    public async Task Should_show_each_kind_of_job_as_before(string name, JobState job, bool showTenant, bool withLinks)
    {
        var view = withLinks ? await JobView.WithLinksAsync(job, showTenant, Store, Details, CancellationToken.None) : JobView.From(job, showTenant);
        var json = Presigned().Replace(JsonSerializer.Serialize(view, ApiJson()), "$1\"<presigned>\"$2\"<presigned>\"}");

        Assert.That(json, Is.EqualTo(Views[name]));
    }

    [TestCaseSource(nameof(Cases))]
    [TestCaseSource(nameof(SyncCases))]
    public void Should_send_each_kind_of_webhook_body_as_before(string name, JobState job, bool showTenant, bool withLinks)
    {
        var json = JsonSerializer.Serialize(WebhookPayload.For(job), WebhookPayload.Json);

        Assert.That(json, Is.EqualTo(WebhookBodies[name]));
    }

    /// <summary>
    /// A Parquet job's checkpoint offset is a count of rows (its position), which the worker reports where a compressed
    /// text's decompressed bytes go: shown as bytes, it would be a false figure. A gzip-compressed CSV's stays.
    /// </summary>
    [TestCase(UploadFormat.Parquet, null)]
    [TestCase(UploadFormat.Csv, 9000L)]
    public void Should_show_uncompressed_bytes_only_for_text(string format, long? shown)
    {
        var job = Upload(job =>
        {
            job.CurrentState = "Processing";
            job.Format = format;
            job.RowsLoaded = 120;
            job.BytesRead = 4096;
            job.UncompressedBytesRead = 9000;
        });

        var progress = JsonSerializer.SerializeToNode(JobView.From(job, true), ApiJson())!["progress"]!.AsObject();

        Assert.That(progress["uncompressedBytesRead"]?.GetValue<long>(), Is.EqualTo(shown));
        Assert.That(progress["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(120));
    }

    [TestCase("state", "unknown", "state must be one of uploaded, processing, completed, requested, rendering, ready, queued, syncing, synced, scheduled, building, built, failed, cancelled.")]
    [TestCase("kind", "export", "kind must be upload, statement, sync or index-build.")]
    public async Task Should_refuse_an_unknown_filter_with_the_values_it_accepts(string filter, string value, string detail)
    {
        var result = await JobsApi.ListJobs(new DefaultHttpContext(), null!, filter == "state" ? value : null, null,
            filter == "kind" ? value : null, null, null, null, CancellationToken.None);

        var problem = (ProblemHttpResult)result.Result;
        Assert.That((problem.StatusCode, problem.ProblemDetails.Detail), Is.EqualTo((400, detail)));
    }

    /// <summary>A presigned link and its expiry change with the clock; the rest may not change at all.</summary>
    [GeneratedRegex("(\"(?:rejects|syncRejects)\":\\{\"count\":\\d+,\"url\":)\"[^\"]*\"(,\"expiresAt\":)\"[^\"]*\"\\}")]
    private static partial Regex Presigned();

    /// <summary>Presigns locally, as S3 clients do: no server is asked.</summary>
    private static readonly ObjectStore Store = new(
        StorageExtensions.CreateClient(new S3Options { ServiceUrl = "http://127.0.0.1:9", AccessKey = "a", SecretKey = "b", Bucket = "ingestion" }),
        Options.Create(new S3Options { ServiceUrl = "http://127.0.0.1:9", AccessKey = "a", SecretKey = "b", Bucket = "ingestion" }));

    /// <summary>What a kind reads from its own tables for <c>GET /v1/jobs/{id}</c>, as it would read it: no server is asked.</summary>
    private static readonly IServiceProvider Details = new ServiceCollection().AddSingleton<SyncDuplicates>(new ReadDuplicates()).BuildServiceProvider();

    /// <summary>The two keys behind the synced job's three duplicates.</summary>
    private sealed class ReadDuplicates() : SyncDuplicates(null!)
    {
        public override Task<IReadOnlyList<SyncDuplicateKey>> ReadAsync(Guid jobId, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<SyncDuplicateKey>>(
            [
                new(JsonSerializer.SerializeToElement(new { id = "6d1f0c3e-9b7a-4c55-8e21-0f4a2b9c7d10" }), 2, [new(0, 4, 391), new(0, 9, 877)]),
                new(JsonSerializer.SerializeToElement(new { id = "a04e5b7c-2d13-4f6a-9c88-51b2e3f0d6a9" }), 1, [new(0, 12, 1150)]),
            ]);
    }

    /// <summary>The options the API answers with, configured as the API configures them.</summary>
    private static JsonSerializerOptions ApiJson() =>
        new ServiceCollection().AddJobViews().BuildServiceProvider().GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;

    private static UploadJob Upload(Action<UploadJob> change)
    {
        var job = new UploadJob
        {
            CorrelationId = Id,
            Version = 4,
            CurrentState = "Uploaded",
            TenantId = "acme",
            CreatedAt = Created,
            UpdatedAt = Created.AddSeconds(7),
            DatasetName = "transactions",
            Bucket = "ingestion",
            Key = "uploads/acme/x.csv",
            Bytes = 8192,
            Sha256 = "ab12",
        };
        change(job);
        return job;
    }

    private static StatementJob Statement(Action<StatementJob> change)
    {
        var job = new StatementJob
        {
            CorrelationId = Id,
            Version = 3,
            CurrentState = "Requested",
            TenantId = "acme",
            CreatedAt = Created,
            UpdatedAt = Created.AddSeconds(9),
            AccountId = 42,
            From = new DateOnly(2026, 1, 1),
            To = new DateOnly(2026, 1, 31),
            LinesTotal = 960,
            PagesTotal = 24,
            Volumes = 1,
        };
        change(job);
        return job;
    }

    private static SyncJob Sync(Action<SyncJob> change)
    {
        var job = new SyncJob
        {
            CorrelationId = Id,
            Version = 5,
            CurrentState = "Queued",
            TenantId = "acme",
            CreatedAt = Created,
            UpdatedAt = Created.AddSeconds(11),
            Source = "events",
            TargetDataset = "events",
            Mode = "incremental",
            Since = new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero),
            Partitions = 1,
        };
        change(job);
        return job;
    }
}
