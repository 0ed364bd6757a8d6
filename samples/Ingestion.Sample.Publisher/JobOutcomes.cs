using System.Collections.Concurrent;
using Ingestion.Contracts.Jobs;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Ingestion.Sample.Publisher;

/// <summary>
/// The jobs this process waits for, by job id. A real service would usually act in the consumer
/// itself (mark its file done, alert on a failure) instead of awaiting in memory; this sample awaits
/// so that its flow reads top to bottom.
/// </summary>
public sealed class JobOutcomes
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<IJobOutcome>> _awaited = new();

    /// <summary>Call before the job is submitted, so that even an instant outcome is not missed.</summary>
    public Task<IJobOutcome> Expect(Guid jobId) =>
        _awaited.GetOrAdd(jobId, _ => new TaskCompletionSource<IJobOutcome>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Forget(Guid jobId) => _awaited.TryRemove(jobId, out _);

    /// <returns>Whether this process was waiting for the job.</returns>
    public bool Deliver(IJobOutcome outcome) =>
        _awaited.TryRemove(outcome.JobId, out var awaited) && awaited.TrySetResult(outcome);
}

/// <summary>
/// Every job's end arrives here (one consumer of the three events); those of other services' jobs are
/// acknowledged and ignored. A job retried after a failure ends again: its later outcome comes too.
/// </summary>
public sealed class JobOutcomeConsumer(JobOutcomes outcomes, ILogger<JobOutcomeConsumer> logger)
    : IConsumer<JobCompleted>, IConsumer<JobFailed>, IConsumer<JobCancelled>
{
    public Task Consume(ConsumeContext<JobCompleted> context) => Deliver(context.Message);

    public Task Consume(ConsumeContext<JobFailed> context) => Deliver(context.Message);

    public Task Consume(ConsumeContext<JobCancelled> context) => Deliver(context.Message);

    private Task Deliver(IJobOutcome outcome)
    {
        if (outcomes.Deliver(outcome))
        {
            logger.LogDebug("Job {JobId} ({Kind}) ended: {Outcome}", outcome.JobId, outcome.Kind, outcome.GetType().Name);
        }

        return Task.CompletedTask;
    }
}
