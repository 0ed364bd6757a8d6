using System.Diagnostics;
using System.Net;
using Amazon.S3.Model;
using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Statements;
using Ingestion.Contracts.Uploads;
using Ingestion.Tests.EndToEnd.Progress;
using Ingestion.Tests.Infrastructure;
using MassTransit;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Services;

/// <summary>
/// An internal service that starts jobs with Ingestion.Contracts alone: it sends a submit command
/// with MassTransit's request client and gets the job back (or a fault that says why not), and
/// learns how the job ended from the generic events, whatever the kind, failures and cancellations
/// included. Its own id for the job makes a repeated command the same job.
/// </summary>
public sealed class When_a_service_submits_jobs_on_the_bus
{
    private static readonly RequestTimeout Timeout = RequestTimeout.After(s: 30);
    private JobOutcomeListener _service = null!;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;

    private static Sandbox Sandbox => TestRun.Shared.Sandbox;

    [OneTimeSetUp]
    public async Task ConnectAsync()
    {
        _service = await JobOutcomeListener.StartAsync(Sandbox);
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
    }

    [OneTimeTearDown]
    public async Task DisconnectAsync()
    {
        _acme.Dispose();
        _globex.Dispose();
        await _service.DisposeAsync();
    }

    [Test]
    public async Task Should_answer_the_request_with_the_new_job_and_announce_its_completion_with_its_counts()
    {
        var csv = new TestCsv();
        var (jobId, key) = await PutAsync(csv.Transactions(40));

        var accepted = (await _service.Bus.CreateRequestClient<SubmitUpload>(Timeout)
            .GetResponse<JobAccepted>(new SubmitUpload(jobId, "acme", "transactions", Sandbox.Bucket, key))).Message;

        Assert.That((accepted.JobId, accepted.Kind, accepted.TenantId, accepted.Status), Is.EqualTo((jobId, "upload", "acme", "uploaded")));
        Assert.That(accepted.Links["self"], Is.EqualTo($"/v1/jobs/{jobId}"));
        var completed = await _service.WaitAsync<JobCompleted>(jobId);
        Assert.That((completed.Kind, completed.TenantId, completed.Attempt), Is.EqualTo(("upload", "acme", 1)));
        Assert.That(completed.Counts, Is.EqualTo(new Dictionary<string, long> { ["rowsLoaded"] = 40, ["rowsRejected"] = 0 }));
        Assert.That(completed.Links["self"], Is.EqualTo($"/v1/jobs/{jobId}"));
        var job = await _acme.GetJsonAsync($"/v1/jobs/{jobId}");
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), "the event follows the committed state");

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_service.AsInterface(jobId).Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var outcome = _service.AsInterface(jobId).Single();
        Assert.That((outcome.Kind, outcome.Attempt, outcome.Counts["rowsLoaded"]), Is.EqualTo(("upload", 1, 40L)),
            "one consumer of IJobOutcome receives the event too");
    }

    [Test]
    public async Task Should_make_one_job_of_a_command_sent_again_with_the_same_id()
    {
        var csv = new TestCsv();
        var (jobId, key) = await PutAsync(csv.Transactions(25));
        var submit = new SubmitUpload(jobId, "acme", "transactions", Sandbox.Bucket, key);
        var client = _service.Bus.CreateRequestClient<SubmitUpload>(Timeout);

        var first = await client.GetResponse<JobAccepted>(submit);
        await _service.Bus.Publish(submit);
        await _service.WaitAsync<JobCompleted>(jobId);
        var again = await client.GetResponse<JobAccepted>(submit);

        Assert.That(first.Message.JobId, Is.EqualTo(jobId));
        Assert.That((again.Message.JobId, again.Message.Status), Is.EqualTo((jobId, "completed")), "a repeat is answered with the job as it stands");
        Assert.That(again.Message.CreatedAt, Is.EqualTo(first.Message.CreatedAt));
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.That(_service.Of(jobId), Has.Count.EqualTo(1), "one job, so one end");
        var completed = (JobCompleted)_service.Of(jobId)[0];
        Assert.That(completed.Counts["rowsLoaded"], Is.EqualTo(25));
        Assert.That(completed.Counts["rowsRejected"], Is.Zero, "a second job would have rejected every row as a duplicate key");
        Assert.That(await Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.transactions where transaction_id = any(@ids)",
            ("ids", Enumerable.Range(1, 25).Select(csv.Id).ToArray())), Is.EqualTo(25));
    }

    [Test]
    public async Task Should_fault_a_request_for_an_unknown_dataset_at_once_and_make_no_job()
    {
        var (jobId, key) = await PutAsync(new TestCsv().Transactions(1));
        var watch = Stopwatch.StartNew();

        var fault = Assert.ThrowsAsync<RequestFaultException>(() => _service.Bus.CreateRequestClient<SubmitUpload>(Timeout)
            .GetResponse<JobAccepted>(new SubmitUpload(jobId, "acme", "no_such_dataset", Sandbox.Bucket, key)));

        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "a refusal is an answer, not the 30 s timeout");
        Assert.That(fault!.Fault!.Exceptions.Single().Message,
            Is.EqualTo($"SubmitUpload for job {jobId} was refused: tenant 'acme' has no dataset 'no_such_dataset'."));
        using var response = await _acme.GetAsync($"/v1/jobs/{jobId}");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Should_refuse_a_job_id_that_names_another_tenants_job()
    {
        var (jobId, key) = await PutAsync(new TestCsv().Transactions(5));
        var client = _service.Bus.CreateRequestClient<SubmitUpload>(Timeout);
        await client.GetResponse<JobAccepted>(new SubmitUpload(jobId, "acme", "transactions", Sandbox.Bucket, key));

        var refusal = Assert.ThrowsAsync<RequestFaultException>(() =>
            client.GetResponse<JobAccepted>(new SubmitUpload(jobId, "globex", "transactions", Sandbox.Bucket, key)));

        Assert.That(refusal!.Fault!.Exceptions.Single().Message, Does.EndWith("names a job of another tenant than 'globex'; choose a new id."));
        using var theirs = await _globex.GetAsync($"/v1/jobs/{jobId}");
        Assert.That(theirs.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "globex has no such job");
        Assert.That((await _service.WaitAsync<JobCompleted>(jobId)).TenantId, Is.EqualTo("acme"));
    }

    [Test]
    public async Task Should_announce_a_failed_upload_with_its_error_and_a_retry_link()
    {
        var jobId = NewId.NextGuid();
        await _service.Bus.Publish(new SubmitUpload(jobId, "acme", "transactions", Sandbox.Bucket, "nowhere/missing.csv"));

        var failed = await _service.WaitAsync<JobFailed>(jobId);

        Assert.That((failed.Kind, failed.TenantId, failed.Error.Code), Is.EqualTo(("upload", "acme", "object_missing")));
        Assert.That(failed.Error.Message, Does.Contain("does not exist"));
        Assert.That(failed.Links["retry"], Is.EqualTo($"/v1/jobs/{jobId}/retry"));
        Assert.That(failed.Counts, Is.EqualTo(new Dictionary<string, long> { ["rowsLoaded"] = 0, ["rowsRejected"] = 0 }));
    }

    [Test]
    public async Task Should_announce_a_cancelled_upload_with_who_cancelled_it()
    {
        var dataset = await SlowDataset.CreateAsync(_acme, "acme", millisecondsPerBatch: 200);
        var (jobId, key) = await PutAsync(SlowDataset.Rows(20_000, 1));
        await _service.Bus.Publish(new SubmitUpload(jobId, "acme", dataset, Sandbox.Bucket, key));
        await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "processing");

        await _service.Bus.Publish(new CancelJob(jobId, "service:billing-exports"));

        var cancelled = await _service.WaitAsync<JobCancelled>(jobId);
        Assert.That((cancelled.Kind, cancelled.CancelledBy), Is.EqualTo(("upload", "service:billing-exports")));
        Assert.That(cancelled.Counts["rowsLoaded"], Is.LessThan(20_000));
        Assert.That(cancelled.Links["retry"], Is.EqualTo($"/v1/jobs/{jobId}/retry"));
    }

    [Test]
    public async Task Should_announce_a_ready_statement_with_its_download_link()
    {
        var account = Random.Shared.NextInt64(100_000_000, 900_000_000);
        var load = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", new TestCsv().Transactions(30, account)));
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());
        var jobId = NewId.NextGuid();

        var accepted = (await _service.Bus.CreateRequestClient<BuildStatement>(Timeout).GetResponse<JobAccepted>(
            new BuildStatement(jobId, "acme", account, new DateOnly(2026, 1, 1), new DateOnly(2026, 12, 31)))).Message;
        var ready = await _service.WaitAsync<JobCompleted>(jobId, 90);

        Assert.That((accepted.Kind, accepted.Status), Is.EqualTo(("statement", "requested")));
        Assert.That(ready.Kind, Is.EqualTo("statement"));
        Assert.That(ready.Counts["lines"], Is.EqualTo(30));
        Assert.That(ready.Links["download"], Is.EqualTo($"/v1/jobs/{jobId}/download"));
        var (pdf, _) = await Pdfs.DownloadAsync(_acme, jobId);
        Assert.That(Pdfs.Pages(pdf), Has.Count.EqualTo(ready.Counts["pages"]));
    }

    [Test]
    public async Task Should_announce_a_failed_statement()
    {
        var jobId = NewId.NextGuid();
        await _service.Bus.Publish(new BuildStatement(jobId, "nobody", 1, new DateOnly(2026, 1, 1), new DateOnly(2026, 1, 31)));

        var failed = await _service.WaitAsync<JobFailed>(jobId);

        Assert.That((failed.Kind, failed.TenantId, failed.Error.Code), Is.EqualTo(("statement", "nobody", "unknown_tenant")));
        Assert.That(failed.Links["retry"], Is.EqualTo($"/v1/jobs/{jobId}/retry"));
    }

    [Test]
    public async Task Should_announce_a_cancelled_statement()
    {
        var jobId = NewId.NextGuid();

        // The worker waits on the table until the lock is let go: the statement stays requested meanwhile.
        await using (var hold = await Sandbox.Db.OpenConnectionAsync())
        await using (var transaction = await hold.BeginTransactionAsync())
        {
            await using (var exclusive = new NpgsqlCommand("lock table tenant_globex.transactions in access exclusive mode", hold, transaction))
            {
                await exclusive.ExecuteNonQueryAsync();
            }

            var accepted = await _service.Bus.CreateRequestClient<BuildStatement>(Timeout).GetResponse<JobAccepted>(
                new BuildStatement(jobId, "globex", 7, new DateOnly(2026, 1, 1), new DateOnly(2026, 1, 31)));
            Assert.That(accepted.Message.Status, Is.EqualTo("requested"));

            await _service.Bus.Publish(new CancelJob(jobId, "service:statements-desk"));
            var cancelled = await _service.WaitAsync<JobCancelled>(jobId);

            Assert.That((cancelled.Kind, cancelled.TenantId, cancelled.CancelledBy), Is.EqualTo(("statement", "globex", "service:statements-desk")));
            await transaction.RollbackAsync();
        }

        await _globex.WaitForJobEndAsync(jobId);
    }

    /// <summary>The service's own file in the bucket, under its own key, with the job id it chose for it.</summary>
    private static async Task<(Guid JobId, string Key)> PutAsync(byte[] csv)
    {
        var jobId = NewId.NextGuid();
        var key = $"billing-exports/{jobId:N}.csv";
        await Sandbox.S3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = Sandbox.Bucket, Key = key, InputStream = new MemoryStream(csv), UseChunkEncoding = false,
        });
        return (jobId, key);
    }
}
