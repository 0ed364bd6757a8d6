namespace Ingestion.Platform.Messaging;

/// <summary>
/// The queues that commands are sent to. A command is sent, not published: the send
/// declares its durable queue, so the command waits there even if no worker has started yet.
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

    public static Uri Address(string queue) => new($"queue:{queue}");
}
