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

/// <remarks>Its kind, working states and queue are the kind's, as the registry declares them.</remarks>
public sealed class JobWork<TJob, TCommand>(Func<TJob, TCommand> command) : JobWork
    where TJob : JobState
    where TCommand : class
{
    private static readonly JobKind Registered = JobKinds.Of(typeof(TJob));

    public override string Kind => Registered.Name;

    public override IReadOnlyList<string> WorkingStates { get; } = [Registered.Queued, Registered.Running];

    public override string CommandName => typeof(TCommand).Name;

    public Uri Queue { get; } = Queues.Address(Registered.WorkQueue);

    public TCommand Command(TJob job) => command(job);

    public override Task SendAsync(NpgsqlConnection connection, JobState job, CancellationToken cancellationToken) =>
        Outbox.AddAsync(connection, command((TJob)job), Queue, cancellationToken);
}
