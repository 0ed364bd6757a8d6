namespace Ingestion.Contracts.Jobs;

/// <summary>
/// How a job ended, whatever its kind: <see cref="JobCompleted"/>, <see cref="JobFailed"/> or
/// <see cref="JobCancelled"/>. The job layer publishes one each time a job enters one of those states,
/// so a service that subscribes to this interface learns every end of its jobs with one consumer.
/// A job that is retried runs again and ends again, with a higher <see cref="Attempt"/>.
/// </summary>
public interface IJobOutcome : IJobMessage
{
    /// <summary>The job's kind as the HTTP API names it: <c>upload</c>, <c>statement</c>, …</summary>
    string Kind { get; }

    /// <summary>The tenant the job belongs to.</summary>
    string TenantId { get; }

    /// <summary>
    /// The figures of the kind, as its webhook reports them: an upload's <c>rowsLoaded</c> and
    /// <c>rowsRejected</c>, a statement's <c>lines</c> and <c>pages</c>. New kinds bring their own names.
    /// </summary>
    IReadOnlyDictionary<string, long> Counts { get; }

    /// <summary>
    /// Paths on the HTTP API, relative to its base URL: always <c>self</c> (the job), and what the job
    /// offers in this state, such as <c>download</c> for a ready statement or <c>retry</c> for a failed job.
    /// </summary>
    IReadOnlyDictionary<string, string> Links { get; }

    /// <summary>Which run of the job ended: 1, then one more for every retry.</summary>
    int Attempt { get; }
}
