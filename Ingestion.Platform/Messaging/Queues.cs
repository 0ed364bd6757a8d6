using Ingestion.Platform.Jobs;

namespace Ingestion.Platform.Messaging;

/// <summary>
/// The queues that commands are sent to. A queue is declared by the endpoint that consumes it,
/// with its type (<see cref="RabbitMqOptions.QueueType"/>); a command is sent to the queue's
/// exchange, mandatory, so a command for a queue no worker has declared yet is refused (and
/// waits in the outbox) rather than dropped. Each kind of job declares its own queues in its
/// folder (<c>Jobs/Uploads/UploadQueues.cs</c>) and names them in its <see cref="JobKind"/>.
/// </summary>
public static partial class Queues
{
    /// <summary>Where a job's own commands go (<c>RetryJob</c>, <c>CancelJob</c>): its kind's state machine.</summary>
    public static string JobsOf(string kind) =>
        JobKinds.TryGet(kind, out var registered)
            ? registered.JobsQueue
            : throw new ArgumentOutOfRangeException(nameof(kind), kind, "No state machine for this kind of job.");

    /// <summary>The service's durable queues; their <c>_error</c> and <c>_skipped</c> queues follow their type.</summary>
    public static readonly IReadOnlySet<string> Durable =
        JobKinds.All.SelectMany(k => new[] { k.JobsQueue, k.WorkQueue }).ToHashSet(StringComparer.Ordinal);

    // Not "queue:": that send declares the queue as classic, which a quorum queue of the same
    // name refuses (PRECONDITION_FAILED), and MassTransit has no address option for the type.
    public static Uri Address(string queue) => new($"exchange:{queue}");
}
