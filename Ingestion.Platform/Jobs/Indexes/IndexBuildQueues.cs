namespace Ingestion.Platform.Messaging;

/// <summary>The queues of index builds, declared with the kind (<see cref="Jobs.IndexBuildJob.Descriptor"/>).</summary>
public static partial class Queues
{
    /// <summary>The index build state machine: <c>AddIndex</c>, <c>RetryJob</c> and <c>CancelJob</c> for index builds, and its events.</summary>
    public const string IndexBuildJobs = "index-build-jobs";

    /// <summary>Workers that build indexes: <c>BuildIndex</c>.</summary>
    public const string BuildIndex = "build-index";
}
