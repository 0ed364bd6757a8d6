using Ingestion.Platform.Jobs;

namespace Ingestion.Platform.Messaging;

/// <summary>
/// The queues that commands are sent to. A command is sent, not published: the send
/// declares its durable queue, so the command waits there even if no worker has started yet.
/// Each kind of job declares its own queues in its folder (<c>Jobs/Uploads/UploadQueues.cs</c>)
/// and names them in its <see cref="JobKind"/>.
/// </summary>
public static partial class Queues
{
    /// <summary>Where a job's own commands go (<c>RetryJob</c>, <c>CancelJob</c>): its kind's state machine.</summary>
    public static string JobsOf(string kind) =>
        JobKinds.TryGet(kind, out var registered)
            ? registered.JobsQueue
            : throw new ArgumentOutOfRangeException(nameof(kind), kind, "No state machine for this kind of job.");

    public static Uri Address(string queue) => new($"queue:{queue}");
}
