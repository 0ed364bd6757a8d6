using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Jobs;
using Ingestion.Workers.StateMachines;
using MassTransit;
using MassTransit.Events;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ingestion.Tests.Unit;

/// <summary>The upload job's transitions, on MassTransit's in-memory harness.</summary>
public sealed class Upload_state_machine
{
    private ServiceProvider _provider = null!;
    private ITestHarness _harness = null!;
    private ISagaStateMachineTestHarness<UploadStateMachine, UploadJob> _saga = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _provider = new ServiceCollection()
            .AddMassTransitTestHarness(x =>
            {
                x.DisableUsageTelemetry();
                x.AddSagaStateMachine<UploadStateMachine, UploadJob>();
            })
            .BuildServiceProvider(true);
        _harness = _provider.GetRequiredService<ITestHarness>();
        await _harness.Start();
        _saga = _harness.GetSagaStateMachineHarness<UploadStateMachine, UploadJob>();
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _harness.Stop();
        await _provider.DisposeAsync();
    }

    [Test]
    public async Task Should_create_a_job_from_a_bus_command_and_hand_it_to_a_worker()
    {
        var job = await SubmitAsync();

        Assert.That(await _harness.Sent.Any<ProcessUpload>(m => m.Context.Message.JobId == job), Is.True);
        Assert.That(await _harness.Published.Any<UploadReceived>(m => m.Context.Message.JobId == job), Is.True);
        var instance = Instance(job);
        Assert.That(instance.TenantId, Is.EqualTo("acme"));
        Assert.That(instance.DatasetName, Is.EqualTo("transactions"));
    }

    [Test]
    public async Task Should_go_through_processing_to_completed_with_the_counts()
    {
        var job = await SubmitAsync();
        await _harness.Bus.Publish(new UploadProcessingStarted(job, 1000, DateTimeOffset.UtcNow));
        await StateAsync(job, _saga.StateMachine.Processing);
        await _harness.Bus.Publish(new UploadProgressed(job, 40, 1, 500, 1000, DateTimeOffset.UtcNow));
        await _harness.Bus.Publish(new UploadProcessed(job, 90, 2, 1000, "rejects/acme/x.csv", DateTimeOffset.UtcNow));
        await StateAsync(job, _saga.StateMachine.Completed);

        var instance = Instance(job);
        Assert.That((instance.RowsLoaded, instance.RowsRejected, instance.BytesRead, instance.Bytes), Is.EqualTo((90L, 2L, 1000L, 1000L)));
        Assert.That(instance.RejectsKey, Is.EqualTo("rejects/acme/x.csv"));
        Assert.That(instance.CompletedAt, Is.Not.Null);
    }

    [Test]
    public async Task Should_fail_on_a_worker_fault_and_keep_its_cause()
    {
        var job = await SubmitAsync();
        await PublishFaultAsync(job, "PostgreSQL refused the batch");
        await StateAsync(job, _saga.StateMachine.Failed);

        var error = Instance(job).Error!;
        Assert.That(error.Code, Is.EqualTo(typeof(InvalidOperationException).FullName));
        Assert.That(error.Message, Is.EqualTo("PostgreSQL refused the batch"));
    }

    [Test]
    public async Task Should_not_revive_a_failed_job_on_late_progress()
    {
        var job = await SubmitAsync();
        await _harness.Bus.Publish(new UploadFailed(job, "reject_limit", "too many rejects", 10, 11, 100, null, DateTimeOffset.UtcNow));
        await StateAsync(job, _saga.StateMachine.Failed);

        await _harness.Bus.Publish(new UploadProgressed(job, 10, 11, 100, 1000, DateTimeOffset.UtcNow));
        await _harness.Bus.Publish(new UploadProcessingStarted(job, 1000, DateTimeOffset.UtcNow));
        Assert.That(await _saga.Consumed.Any<UploadProcessingStarted>(m => m.Context.Message.JobId == job), Is.True);

        Assert.That(Instance(job).CurrentState, Is.EqualTo(UploadJob.States.Failed));
        Assert.That(Instance(job).Error!.Code, Is.EqualTo("reject_limit"));
    }

    [Test]
    public async Task Should_process_a_failed_job_again_on_retry_and_forget_the_old_error()
    {
        var job = await SubmitAsync();
        await PublishFaultAsync(job, "S3 dropped the connection");
        await StateAsync(job, _saga.StateMachine.Failed);

        await _harness.Bus.Publish(new RetryJob(job, "ops/key:1234"));
        await StateAsync(job, _saga.StateMachine.Uploaded);

        Assert.That(Instance(job).Error, Is.Null);
        Assert.That(_harness.Sent.Select<ProcessUpload>(m => m.Context.Message.JobId == job).Count(), Is.EqualTo(2),
            "one ProcessUpload when submitted, one on retry");
    }

    [Test]
    public async Task Should_run_a_retry_as_the_next_attempt()
    {
        var job = await SubmitAsync();
        Assert.That(Instance(job).Attempt, Is.EqualTo(1));
        await PublishFaultAsync(job, "S3 dropped the connection");
        await StateAsync(job, _saga.StateMachine.Failed);

        await _harness.Bus.Publish(new RetryJob(job, "ops/key:1234"));
        await StateAsync(job, _saga.StateMachine.Uploaded);

        Assert.That(Instance(job).Attempt, Is.EqualTo(2));
        Assert.That(_harness.Sent.Select<ProcessUpload>(m => m.Context.Message.JobId == job).Select(m => m.Context.Message.Attempt),
            Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public async Task Should_ignore_late_failures_and_faults_of_an_earlier_attempt()
    {
        var job = await SubmitAsync();
        await PublishFaultAsync(job, "S3 dropped the connection");
        await StateAsync(job, _saga.StateMachine.Failed);
        await _harness.Bus.Publish(new RetryJob(job, "ops/key:1234"));
        await StateAsync(job, _saga.StateMachine.Uploaded);
        await _harness.Bus.Publish(new UploadProcessingStarted(job, 1000, DateTimeOffset.UtcNow, Attempt: 2));
        await StateAsync(job, _saga.StateMachine.Processing);

        await _harness.Bus.Publish(new UploadFailed(job, "reject_limit", "late", 1, 2, 3, null, DateTimeOffset.UtcNow, Attempt: 1));
        await PublishFaultAsync(job, "a late fault of attempt 1", attempt: 1);
        await _harness.Bus.Publish(new UploadProgressed(job, 999, 0, 999, 1000, DateTimeOffset.UtcNow, Attempt: 1));
        Assert.That(await _saga.Consumed.Any<UploadFailed>(m => m.Context.Message.JobId == job), Is.True);
        Assert.That(await _saga.Consumed.Any<Fault<ProcessUpload>>(m => m.Context.Message.Message.JobId == job && m.Context.Message.Message.Attempt == 1), Is.True);
        Assert.That(await _saga.Consumed.Any<UploadProgressed>(m => m.Context.Message.JobId == job), Is.True);

        var instance = Instance(job);
        Assert.That((instance.CurrentState, instance.Error, instance.RowsLoaded), Is.EqualTo((UploadJob.States.Processing, (JobError?)null, 0L)));

        await _harness.Bus.Publish(new UploadProcessed(job, 90, 0, 1000, null, DateTimeOffset.UtcNow, Attempt: 2));
        await StateAsync(job, _saga.StateMachine.Completed);
    }

    [Test]
    public async Task Should_ignore_a_retry_of_a_job_that_has_not_failed()
    {
        var job = await SubmitAsync();
        await _harness.Bus.Publish(new UploadProcessed(job, 1, 0, 10, null, DateTimeOffset.UtcNow));
        await StateAsync(job, _saga.StateMachine.Completed);

        await _harness.Bus.Publish(new RetryJob(job, "tenant:acme"));
        Assert.That(await _saga.Consumed.Any<RetryJob>(m => m.Context.Message.JobId == job), Is.True);

        Assert.That(Instance(job).CurrentState, Is.EqualTo(UploadJob.States.Completed));
        Assert.That(_harness.Sent.Select<ProcessUpload>(m => m.Context.Message.JobId == job).Count(), Is.EqualTo(1));
    }

    [Test]
    public async Task Should_complete_a_failed_job_whose_work_finished_after_all()
    {
        var job = await SubmitAsync();
        await PublishFaultAsync(job, "timeout");
        await StateAsync(job, _saga.StateMachine.Failed);

        await _harness.Bus.Publish(new UploadProcessed(job, 5, 0, 10, null, DateTimeOffset.UtcNow));
        await StateAsync(job, _saga.StateMachine.Completed);
        Assert.That(Instance(job).RowsLoaded, Is.EqualTo(5));
    }

    [Test]
    public void Should_store_the_states_under_the_names_the_api_reads()
    {
        var machine = new UploadStateMachine();
        Assert.That(new[] { machine.Uploaded.Name, machine.Processing.Name, machine.Completed.Name, machine.Failed.Name },
            Is.EqualTo(new[] { UploadJob.States.Uploaded, UploadJob.States.Processing, UploadJob.States.Completed, UploadJob.States.Failed }));
    }

    [Test]
    public async Task Should_cancel_a_running_job_record_where_it_stopped_and_run_it_again_on_retry()
    {
        var job = await SubmitAsync();
        await _harness.Bus.Publish(new UploadProcessingStarted(job, 1000, DateTimeOffset.UtcNow));
        await StateAsync(job, _saga.StateMachine.Processing);
        await _harness.Bus.Publish(new CancelJob(job, "tenant:acme/key:1"));
        await StateAsync(job, _saga.StateMachine.Cancelled);
        Assert.That(Instance(job).CancelledBy, Is.EqualTo("tenant:acme/key:1"));

        // The worker's progress from before the stop does not revive it; its report of the stop is kept.
        await _harness.Bus.Publish(new UploadProgressed(job, 400, 0, 500, 1000, DateTimeOffset.UtcNow));
        await _harness.Bus.Publish(new UploadCancelled(job, 500, 0, 600, 501, DateTimeOffset.UtcNow));
        Assert.That(await _harness.Consumed.Any<UploadCancelled>(m => m.Context.Message.JobId == job), Is.True);
        await StateAsync(job, _saga.StateMachine.Cancelled);
        Assert.That((Instance(job).RowsLoaded, Instance(job).StoppedAfterLine), Is.EqualTo((500L, (long?)501)));

        await _harness.Bus.Publish(new RetryJob(job, "ops/key:1234"));
        await StateAsync(job, _saga.StateMachine.Uploaded);
        Assert.That(await _harness.Sent.SelectAsync<ProcessUpload>(m => m.Context.Message.JobId == job).Count(), Is.EqualTo(2));
        Assert.That((Instance(job).CancelledBy, Instance(job).StoppedAfterLine), Is.EqualTo(((string?)null, (long?)null)));
    }

    [Test]
    public async Task Should_complete_a_cancelled_job_whose_worker_finished_the_file_first()
    {
        var job = await SubmitAsync();
        await _harness.Bus.Publish(new CancelJob(job, "ops/key:1234"));
        await StateAsync(job, _saga.StateMachine.Cancelled);
        await _harness.Bus.Publish(new UploadProcessed(job, 90, 0, 1000, null, DateTimeOffset.UtcNow));
        await StateAsync(job, _saga.StateMachine.Completed);
        Assert.That((Instance(job).RowsLoaded, Instance(job).CancelledBy), Is.EqualTo((90L, (string?)null)));
    }

    private async Task<Guid> SubmitAsync()
    {
        var job = NewId.NextGuid();
        await _harness.Bus.Publish(new SubmitUpload(job, "acme", "transactions", "bucket", $"uploads/acme/{job:N}.csv"));
        await StateAsync(job, _saga.StateMachine.Uploaded);
        return job;
    }

    private async Task PublishFaultAsync(Guid job, string message, int attempt = 1)
    {
        var command = new ProcessUpload(job, "acme", "transactions", "bucket", "key", attempt);
        await _harness.Bus.Publish<Fault<ProcessUpload>>(new
        {
            Message = command,
            FaultId = NewId.NextGuid(),
            Timestamp = DateTime.UtcNow,
            Exceptions = new[] { new FaultExceptionInfo(new InvalidOperationException(message)) },
        });
    }

    private async Task StateAsync(Guid job, State state) =>
        Assert.That(await _saga.Exists(job, _ => state, TimeSpan.FromSeconds(5)), Is.EqualTo(job), $"job should be {state.Name}");

    private UploadJob Instance(Guid job) => _saga.Sagas.Contains(job)!;
}
