using Ingestion.Contracts;
using Ingestion.Workers.Sagas;
using MassTransit;
using Npgsql;

namespace Ingestion.Workers.Jobs;

/// <summary>One turn of a job's work, as <see cref="JobWorker"/> hands it to the kind's step.</summary>
public sealed class JobRun<TCommand>(TCommand command, NpgsqlConnection connection, IPublishEndpoint events,
    JobCancellation cancellation, CancellationTokenSource stop)
    where TCommand : class, IAttemptMessage
{
    /// <summary>The work command, as the job's current attempt.</summary>
    public TCommand Command => command;

    /// <summary>The connection that holds the job's lock (and its tenant slot): the step's writes go through it.</summary>
    public NpgsqlConnection Connection => connection;

    /// <summary>Where the step publishes what the job's state machine should hear.</summary>
    public IPublishEndpoint Events => events;

    /// <summary>Whether the job was cancelled meanwhile: a step asks at its boundaries (a batch, a few pages).</summary>
    public Task<bool> IsCancelledAsync(CancellationToken cancellationToken) =>
        cancellation.IsCancelledAsync(command.JobId, cancellationToken);

    /// <summary>
    /// Stops the step where it is: the token it was given is cancelled, and the worker takes the
    /// <see cref="OperationCanceledException"/> that follows as the job's cancel.
    /// </summary>
    public Task StopAsync() => stop.CancelAsync();

    /// <summary>When a step that returns <see cref="JobOutcome.Later"/> wants its command back.</summary>
    public DateTimeOffset? ResumeAt { get; private set; }

    /// <summary>Asks for the command back at <paramref name="at"/>; the step then returns <see cref="JobOutcome.Later"/>.</summary>
    public JobOutcome ResumeLater(DateTimeOffset at)
    {
        ResumeAt = at;
        return JobOutcome.Later;
    }
}
