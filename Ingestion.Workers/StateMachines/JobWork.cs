using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Outbox;
using Npgsql;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// A job kind's work as the job layer sees it: the states in which a job is owed work, and the
/// command (with its queue) that does it. The state machine sends it; the reaper sends it again
/// for a job that stopped moving.
/// </summary>
public abstract class JobWork
{
    public abstract string Kind { get; }

    /// <summary>The states in which a worker should be at the job, or its command be queued.</summary>
    public abstract IReadOnlyList<string> WorkingStates { get; }

    public abstract string CommandName { get; }

    /// <summary>Writes the job's work command to the outbox, in the caller's transaction.</summary>
    public abstract Task SendAsync(NpgsqlConnection connection, JobState job, CancellationToken cancellationToken);
}

public sealed class JobWork<TJob, TCommand>(string queue, IReadOnlyList<string> workingStates, Func<TJob, TCommand> command) : JobWork
    where TJob : JobState
    where TCommand : class
{
    public override string Kind { get; } = JobSerializer.KindOf(typeof(TJob));

    public override IReadOnlyList<string> WorkingStates => workingStates;

    public override string CommandName => typeof(TCommand).Name;

    public Uri Queue { get; } = Queues.Address(queue);

    public TCommand Command(TJob job) => command(job);

    public override Task SendAsync(NpgsqlConnection connection, JobState job, CancellationToken cancellationToken) =>
        Outbox.AddAsync(connection, command((TJob)job), Queue, cancellationToken);
}
