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

    public static Uri Address(string queue) => new($"queue:{queue}");
}
