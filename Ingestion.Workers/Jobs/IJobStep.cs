using Ingestion.Contracts;
using Ingestion.Platform.Jobs;

namespace Ingestion.Workers.Jobs;

/// <summary>
/// What one kind of job does with its work command once <see cref="JobWorker"/> holds the job: the
/// kind's own step (load a slice of a file, render a statement). The worker does everything around
/// it that every kind does alike.
/// </summary>
public interface IJobStep<TCommand>
    where TCommand : class, IAttemptMessage
{
    /// <summary>The kind the step works for: the states in which its work is owed.</summary>
    JobKind Kind { get; }

    /// <summary>
    /// Whether the step also runs when the job is in none of the kind's working states (ended, or not
    /// found): a step that can tell from its own checkpoint whether the work was done says so again,
    /// so a message redelivered from the error queue can finish the job. Otherwise the message is done.
    /// </summary>
    bool RunsOutsideWorkingStates { get; }

    /// <summary>The command, as the job's current attempt: whichever command holds the lock does that one.</summary>
    TCommand AtAttempt(TCommand command, int attempt);

    /// <summary>The tenant whose slots the work takes.</summary>
    string TenantOf(TCommand command);

    /// <summary>
    /// The unit of the job's work that <paramref name="command"/> does. The lock is per unit, so the
    /// units of one job (an upload's chunks, a sync's partitions) run on several workers at once while
    /// each unit is worked by one. Unit 0, the default, is the job as a whole: its lock is the one the
    /// reaper asks about.
    /// </summary>
    long UnitOf(TCommand command) => 0;

    /// <summary>The work itself, with the job's lock and one of its tenant's slots held.</summary>
    /// <param name="cancellationToken">Also cancelled by <see cref="JobRun{TCommand}.StopAsync"/>.</param>
    Task<JobOutcome> RunAsync(JobRun<TCommand> run, CancellationToken cancellationToken);

    /// <summary>The job was cancelled before this message's turn: say where it stopped, without a tenant slot.</summary>
    Task<JobOutcome> StopAsync(JobRun<TCommand> run, CancellationToken cancellationToken);
}
