namespace Ingestion.Platform.Messaging;

/// <summary>The queues of syncs, declared with the kind (<see cref="Jobs.SyncJob.Descriptor"/>).</summary>
public static partial class Queues
{
    /// <summary>The sync state machine: <c>SubmitSync</c>, <c>RetryJob</c> and <c>CancelJob</c> for syncs, and its events.</summary>
    public const string SyncJobs = "sync-jobs";

    /// <summary>Workers that pull sources: <c>RunSync</c>.</summary>
    public const string RunSync = "run-sync";
}
