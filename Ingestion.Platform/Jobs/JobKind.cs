using Ingestion.Platform.Storage;

namespace Ingestion.Platform.Jobs;

/// <summary>The states every kind of job shares: both end a job, and both can be retried.</summary>
public static class JobStates
{
    public const string Failed = nameof(Failed);
    public const string Cancelled = nameof(Cancelled);
}

/// <summary>
/// What the shared job layer knows of one kind of job, so that nothing outside the kind's own
/// folders has to name it: its name and state class, its queues, its states, what its webhook
/// counts, and what retention removes with it. Each kind declares one next to its state class
/// (<c>UploadJob.Descriptor</c>) and <see cref="JobKinds"/> lists it.
/// </summary>
public abstract class JobKind
{
    private protected JobKind(string name, Type stateType)
    {
        Name = name;
        StateType = stateType;
    }

    /// <summary>As stored in <c>ingestion.jobs.kind</c> and shown to clients; never renamed.</summary>
    public string Name { get; }

    /// <summary>The kind's <see cref="JobState"/>: the instance of its state machine.</summary>
    public Type StateType { get; }

    /// <summary>The queue of the kind's state machine: its submit command, <c>RetryJob</c>, <c>CancelJob</c>.</summary>
    public required string JobsQueue { get; init; }

    /// <summary>The queue of the workers that do the kind's work.</summary>
    public required string WorkQueue { get; init; }

    /// <summary>Where a job waits for a worker: where it is born, and where a retry puts it back.</summary>
    public required string Queued { get; init; }

    /// <summary>Where a job is once a worker started it.</summary>
    public required string Running { get; init; }

    /// <summary>Where a job that did its work ends.</summary>
    public required string Succeeded { get; init; }

    /// <summary>
    /// Tables, besides those every job has, that keep rows of a job by <c>job_id</c>: retention
    /// deletes them with the job. A new per-job table of the kind belongs here.
    /// </summary>
    public IReadOnlyList<string> Tables { get; init; } = [];

    /// <summary>
    /// Prefixes of tables the kind creates for one job in the <c>ingestion</c> schema, each named
    /// the prefix, the job's uuid in 32 hex digits, then anything (<c>upload_stage_&lt;job&gt;_&lt;n&gt;</c>).
    /// Retention drops a purged job's tables with its rows, and drops any whose job no longer
    /// exists; a job kind that creates such tables must declare them here or they stay forever.
    /// </summary>
    public IReadOnlyList<string> TablePrefixes { get; init; } = [];

    /// <summary>Every state, in the order the API lists them: the kind's own, then those every kind shares.</summary>
    public IReadOnlyList<string> States => [Queued, Running, Succeeded, JobStates.Failed, JobStates.Cancelled];

    /// <summary>The states nothing more happens in unless someone retries the job.</summary>
    public IReadOnlyList<string> FinalStates => [Succeeded, JobStates.Failed, JobStates.Cancelled];

    /// <summary>Whether the kind's output is a document that expires (<see cref="IExpiringDocument"/>).</summary>
    public bool DocumentExpires => typeof(IExpiringDocument).IsAssignableFrom(StateType);

    public bool IsFinal(string state) => state == Succeeded || state is JobStates.Failed or JobStates.Cancelled;

    /// <summary>Failed and cancelled jobs can run again, from where they stopped.</summary>
    public static bool CanRetry(string state) => state is JobStates.Failed or JobStates.Cancelled;

    /// <summary>The figures a webhook reports of the job, in the order they are sent.</summary>
    public abstract IReadOnlyDictionary<string, long> Counts(JobState job);

    /// <summary>
    /// Paths on the HTTP API that the job's outcome events carry besides those every job has
    /// (<c>self</c>, <c>retry</c>): what the job produced, such as a ready statement's <c>download</c>.
    /// </summary>
    public abstract IReadOnlyDictionary<string, string> OutcomeLinks(JobState job);

    /// <summary>
    /// Every S3 object a job of this kind may have left, for retention to delete, including
    /// those a worker may have written before it died, where the job does not name them.
    /// </summary>
    public abstract ValueTask<IEnumerable<(string Bucket, string Key)>> ObjectsAsync(JobState job, ObjectStore store,
        CancellationToken cancellationToken);
}

/// <summary>A kind of job whose state is <typeparamref name="TJob"/>.</summary>
public sealed class JobKind<TJob>(string name) : JobKind(name, typeof(TJob))
    where TJob : JobState
{
    /// <inheritdoc cref="JobKind.Counts"/>
    public required Func<TJob, IReadOnlyDictionary<string, long>> WebhookCounts { get; init; }

    /// <inheritdoc cref="JobKind.ObjectsAsync"/>
    public required Func<TJob, ObjectStore, CancellationToken, ValueTask<IEnumerable<(string Bucket, string Key)>>> Objects { get; init; }

    /// <inheritdoc cref="JobKind.OutcomeLinks"/>
    public Func<TJob, IReadOnlyDictionary<string, string>> Links { get; init; } = _ => new Dictionary<string, string>();

    public override IReadOnlyDictionary<string, long> Counts(JobState job) => WebhookCounts((TJob)job);

    public override IReadOnlyDictionary<string, string> OutcomeLinks(JobState job) => Links((TJob)job);

    public override ValueTask<IEnumerable<(string Bucket, string Key)>> ObjectsAsync(JobState job, ObjectStore store,
        CancellationToken cancellationToken) => Objects((TJob)job, store, cancellationToken);
}

/// <summary>
/// A job whose output is a document kept until <see cref="ExpiresAt"/>: then retention deletes
/// the object and sets <see cref="DocumentDeletedAt"/>, and the job stays until it is old enough.
/// </summary>
public interface IExpiringDocument
{
    string? DocumentKey { get; }

    DateTimeOffset? ExpiresAt { get; }

    DateTimeOffset? DocumentDeletedAt { get; }
}
