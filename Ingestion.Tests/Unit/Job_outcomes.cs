using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Statements;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Jobs;
using Ingestion.Workers.StateMachines;
using MassTransit;
using MassTransit.Events;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ingestion.Tests.Unit;

/// <summary>
/// What the job layer tells other services, on MassTransit's in-memory harness: the answer to a submit
/// request, and one outcome event per end, for any kind, whichever event led there. (On the real bus
/// the events go through the PostgreSQL outbox: the end-to-end tests in EndToEnd/Services.)
/// </summary>
public sealed class Job_outcomes
{
    private ServiceProvider _provider = null!;
    private ITestHarness _harness = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _provider = new ServiceCollection()
            .AddMassTransitTestHarness(x =>
            {
                x.DisableUsageTelemetry();
                x.AddSagaStateMachine<UploadStateMachine, UploadJob>();
                x.AddSagaStateMachine<StatementStateMachine, StatementJob>();
            })
            .BuildServiceProvider(true);
        _harness = _provider.GetRequiredService<ITestHarness>();
        await _harness.Start();
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _harness.Stop();
        await _provider.DisposeAsync();
    }

    [Test]
    public async Task Should_answer_a_request_with_the_job_and_a_repeat_with_the_same_job()
    {
        var job = NewId.NextGuid();
        var submit = new SubmitUpload(job, "acme", "transactions", "bucket", "key.csv");
        var client = _harness.GetRequestClient<SubmitUpload>();

        var first = (await client.GetResponse<JobAccepted>(submit)).Message;
        await _harness.Bus.Publish(new UploadProcessingStarted(job, 100, DateTimeOffset.UtcNow, 1));
        Assert.That(await _harness.GetSagaStateMachineHarness<UploadStateMachine, UploadJob>()
            .Exists(job, m => m.Processing, TimeSpan.FromSeconds(5)), Is.EqualTo(job));
        var again = (await client.GetResponse<JobAccepted>(submit)).Message;

        Assert.That((first.JobId, first.Kind, first.TenantId, first.Status), Is.EqualTo((job, "upload", "acme", "uploaded")));
        Assert.That((again.JobId, again.Status, again.CreatedAt), Is.EqualTo((job, "processing", first.CreatedAt)));
        Assert.That(await _harness.Published.Any<JobAccepted>(), Is.False, "an answer is sent to the caller, never published");
    }

    [Test]
    public async Task Should_refuse_a_job_id_that_names_another_tenants_job_and_leave_it_alone()
    {
        var job = await SubmitUploadAsync();

        var refusal = Assert.ThrowsAsync<RequestFaultException>(() => _harness.GetRequestClient<SubmitUpload>()
            .GetResponse<JobAccepted>(new SubmitUpload(job, "globex", "transactions", "bucket", "theirs.csv")));

        Assert.That(refusal!.Fault!.Exceptions.Single().Message, Is.EqualTo(
            $"SubmitUpload for job {job} was refused: the id names a job of another tenant than 'globex'; choose a new id."));
        var saga = _harness.GetSagaStateMachineHarness<UploadStateMachine, UploadJob>().Sagas.Contains(job)!;
        Assert.That((saga.TenantId, saga.Key), Is.EqualTo(("acme", "key.csv")));
        Assert.That(await _harness.Sent.SelectAsync<ProcessUpload>(m => m.Context.Message.JobId == job).Count(), Is.EqualTo(1),
            "no work is sent for it");
    }

    [Test]
    public async Task Should_announce_a_completed_job_with_its_kinds_counts()
    {
        var job = await SubmitUploadAsync();
        await _harness.Bus.Publish(new UploadProcessed(job, 90, 2, 1000, "rejects/acme/x.csv", DateTimeOffset.UtcNow, 1));

        var completed = await PublishedAsync<JobCompleted>(job);
        Assert.That((completed.Kind, completed.TenantId, completed.Attempt), Is.EqualTo(("upload", "acme", 1)));
        Assert.That(completed.Counts, Is.EqualTo(new Dictionary<string, long> { ["rowsLoaded"] = 90, ["rowsRejected"] = 2 }));
        Assert.That(completed.Links, Is.EqualTo(new Dictionary<string, string> { ["self"] = $"/v1/jobs/{job}" }));
    }

    [Test]
    public async Task Should_announce_a_fault_as_a_failure_and_the_retry_that_completes_it_as_attempt_2()
    {
        var job = await SubmitUploadAsync();
        await _harness.Bus.Publish<Fault<ProcessUpload>>(new
        {
            Message = new ProcessUpload(job, "acme", "transactions", "bucket", "key.csv", 1),
            FaultId = NewId.NextGuid(),
            Timestamp = DateTime.UtcNow,
            Exceptions = new[] { new FaultExceptionInfo(new TimeoutException("S3 did not answer")) },
        });

        var failed = await PublishedAsync<JobFailed>(job);
        Assert.That(failed.Error, Is.EqualTo(new JobFailure(typeof(TimeoutException).FullName!, "S3 did not answer")));
        Assert.That(failed.Links["retry"], Is.EqualTo($"/v1/jobs/{job}/retry"));

        await _harness.Bus.Publish(new RetryJob(job, "ops/key:1234"));
        await _harness.Bus.Publish(new UploadProcessed(job, 10, 0, 100, null, DateTimeOffset.UtcNow, 2));
        Assert.That((await PublishedAsync<JobCompleted>(job)).Attempt, Is.EqualTo(2));
    }

    [Test]
    public async Task Should_announce_a_cancelled_statement_and_who_cancelled_it()
    {
        var job = NewId.NextGuid();
        await _harness.Bus.Publish(new BuildStatement(job, "acme", 42, new DateOnly(2026, 1, 1), new DateOnly(2026, 1, 31)));
        Assert.That(await _harness.GetSagaStateMachineHarness<StatementStateMachine, StatementJob>()
            .Exists(job, m => m.Requested, TimeSpan.FromSeconds(5)), Is.EqualTo(job));
        await _harness.Bus.Publish(new CancelJob(job, "service:statements-desk"));

        var cancelled = await PublishedAsync<JobCancelled>(job);
        Assert.That((cancelled.Kind, cancelled.CancelledBy), Is.EqualTo(("statement", "service:statements-desk")));
        Assert.That(cancelled.Counts, Is.EqualTo(new Dictionary<string, long> { ["lines"] = 0, ["pages"] = 0 }));
    }

    [Test]
    public async Task Should_link_a_ready_statement_to_its_download()
    {
        var job = NewId.NextGuid();
        await _harness.Bus.Publish(new BuildStatement(job, "acme", 42, new DateOnly(2026, 1, 1), new DateOnly(2026, 1, 31)));
        await _harness.Bus.Publish(new StatementReady(job, "documents/acme/x.pdf", "application/pdf", 1000, 96, 4, 1,
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(7), 1));

        var ready = await PublishedAsync<JobCompleted>(job);
        Assert.That(ready.Links["download"], Is.EqualTo($"/v1/jobs/{job}/download"));
        Assert.That(ready.Counts, Is.EqualTo(new Dictionary<string, long> { ["lines"] = 96, ["pages"] = 4 }));
    }

    private async Task<Guid> SubmitUploadAsync()
    {
        var job = NewId.NextGuid();
        await _harness.Bus.Publish(new SubmitUpload(job, "acme", "transactions", "bucket", "key.csv"));
        Assert.That(await _harness.GetSagaStateMachineHarness<UploadStateMachine, UploadJob>()
            .Exists(job, m => m.Uploaded, TimeSpan.FromSeconds(5)), Is.EqualTo(job));
        return job;
    }

    private async Task<T> PublishedAsync<T>(Guid job)
        where T : class, IJobOutcome
    {
        var published = await _harness.Published.SelectAsync<T>(m => m.Context.Message.JobId == job).FirstOrDefault();
        Assert.That(published, Is.Not.Null, $"no {typeof(T).Name} for job {job}");
        return published!.Context.Message;
    }
}
