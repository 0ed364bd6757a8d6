using Ingestion.Contracts;
using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Jobs;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>What every job's state machine does alike with an operator's retry or cancel.</summary>
internal static class OperatorCommands
{
    /// <summary>A retry or cancel names a job that exists; one for a job that is gone is dropped.</summary>
    public static void ForExistingJob<TJob, TCommand>(IEventCorrelationConfigurator<TJob, TCommand> e)
        where TJob : class, SagaStateMachineInstance
        where TCommand : class, IJobMessage
    {
        e.CorrelateById(m => m.Message.JobId);
        e.OnMissingInstance(m => m.Discard());
    }

    public static void Cancel(JobState job, CancelJob cancel)
    {
        job.CancelledBy = cancel.RequestedBy;
        job.CompletedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>What a retry clears of how the job last ended, and the next attempt; each kind resets its own progress too.</summary>
    public static void Reset(JobState job)
    {
        job.Attempt++;
        job.Error = null;
        job.CompletedAt = null;
        job.CancelledBy = null;
    }
}
