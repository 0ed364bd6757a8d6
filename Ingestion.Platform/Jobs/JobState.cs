using System.Text.Json.Serialization;
using MassTransit;

namespace Ingestion.Platform.Jobs;

/// <summary>
/// What every job has, whatever its kind. A job is the instance of its kind's state
/// machine (a saga) and lives as one row of <c>ingestion.jobs</c>.
/// </summary>
public abstract class JobState : SagaStateMachineInstance, ISagaVersion
{
    /// <summary>The job id.</summary>
    public Guid CorrelationId { get; set; }

    public int Version { get; set; }

    public string CurrentState { get; set; } = "";

    public string TenantId { get; set; } = "";

    /// <summary>The client's <c>Idempotency-Key</c>: a repeated request with it returns this job.</summary>
    public string? IdempotencyKey { get; set; }

    public string? CallbackUrl { get; set; }

    /// <summary>
    /// Which run of the job's work this is: 1, then one more for every retry. Work commands and the
    /// worker's events carry it, so an event of an earlier attempt is told apart and changes nothing.
    /// </summary>
    public int Attempt { get; set; } = 1;

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    public JobError? Error { get; set; }

    /// <summary>Who cancelled the job, when it was.</summary>
    public string? CancelledBy { get; set; }

    /// <summary>The name of the job's kind (<see cref="JobKinds"/>), as stored in <c>ingestion.jobs.kind</c>.</summary>
    [JsonIgnore]
    public string Kind => JobKinds.Of(GetType()).Name;

    /// <summary>Whether the job has ended: nothing more will happen to it unless someone retries it.</summary>
    [JsonIgnore]
    public bool IsFinished => JobKinds.Of(GetType()).IsFinal(CurrentState);

    /// <summary>The dataset a job loads into or reads from, where it has one.</summary>
    [JsonIgnore]
    public virtual string? Dataset => null;
}

/// <param name="Code">Stable and machine-readable, e.g. <c>missing_column</c>; what failures are grouped by.</param>
/// <param name="Message">For a person: what went wrong and where.</param>
public sealed record JobError(string Code, string Message, DateTimeOffset At);
