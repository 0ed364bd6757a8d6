namespace Ingestion.Platform.Messaging;

/// <summary>
/// The queues that commands are sent to. A queue is declared by the endpoint that consumes it,
/// with its type (<see cref="RabbitMqOptions.QueueType"/>); a command is sent to the queue's
/// exchange, mandatory, so a command for a queue no worker has declared yet is refused (and
/// waits in the outbox) rather than dropped.
/// </summary>
public static class Queues
{
    /// <summary>The upload state machine: <c>SubmitUpload</c>, <c>RetryJob</c> for uploads, and its events.</summary>
    public const string UploadJobs = "upload-jobs";

    /// <summary>Workers that load uploads: <c>ProcessUpload</c>.</summary>
    public const string ProcessUpload = "process-upload";

    /// <summary>The statement state machine: <c>BuildStatement</c>, <c>RetryJob</c> for statements, and its events.</summary>
    public const string StatementJobs = "statement-jobs";

    /// <summary>Workers that render statements: <c>RenderStatement</c>.</summary>
    public const string RenderStatement = "render-statement";

    /// <summary>Where a job's own commands go (<c>RetryJob</c>, later <c>CancelJob</c>): its state machine.</summary>
    public static string JobsOf(string kind) => kind switch
    {
        Jobs.UploadJob.KindName => UploadJobs,
        Jobs.StatementJob.KindName => StatementJobs,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "No state machine for this kind of job."),
    };

    /// <summary>The service's durable queues; their <c>_error</c> and <c>_skipped</c> queues follow their type.</summary>
    public static readonly IReadOnlySet<string> Durable = new HashSet<string> { UploadJobs, ProcessUpload, StatementJobs, RenderStatement };

    // Not "queue:": that send declares the queue as classic, which a quorum queue of the same
    // name refuses (PRECONDITION_FAILED), and MassTransit has no address option for the type.
    public static Uri Address(string queue) => new($"exchange:{queue}");
}
