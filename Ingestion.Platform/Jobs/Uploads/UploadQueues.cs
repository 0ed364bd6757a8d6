namespace Ingestion.Platform.Messaging;

/// <summary>The queues of uploads, declared with the kind (<see cref="Jobs.UploadJob.Descriptor"/>).</summary>
public static partial class Queues
{
    /// <summary>The upload state machine: <c>SubmitUpload</c>, <c>RetryJob</c> and <c>CancelJob</c> for uploads, and its events.</summary>
    public const string UploadJobs = "upload-jobs";

    /// <summary>Workers that load uploads: <c>ProcessUpload</c>.</summary>
    public const string ProcessUpload = "process-upload";
}
