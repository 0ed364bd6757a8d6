using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Webhooks;

/// <summary>How job webhooks are sent and which hosts they may reach. Bound from the <c>Webhooks</c> section.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    private static readonly TimeSpan[] DefaultBackoff =
        [TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30)];

    /// <summary>
    /// The wait before each retry: the first attempt is immediate, the n-th retry waits
    /// <c>Backoff[n-1]</c>, and after the last one the delivery gives up. Empty means 10 s, 1 min, 5 min, 30 min.
    /// (Empty rather than pre-filled, because configuration binding appends to a list it finds filled.)
    /// </summary>
    public List<TimeSpan> Backoff { get; set; } = [];

    /// <summary>How long one attempt may take, from connecting to the response's headers.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a worker looks for due deliveries when nothing wakes it.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Deliveries one worker sends at the same time.</summary>
    [Range(1, 256)]
    public int ConcurrentDeliveries { get; set; } = 16;

    /// <summary>
    /// Host names (exact, case-insensitive) a callback URL may name even though they resolve
    /// to a loopback, private or link-local address: receivers inside the organisation's network.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>The waits actually used: <see cref="Backoff"/>, or the defaults when it is empty.</summary>
    public IReadOnlyList<TimeSpan> Retries => Backoff.Count > 0 ? Backoff : DefaultBackoff;

    /// <summary>
    /// How long a claimed delivery stays out of other workers' reach: an attempt ends well
    /// before, and a worker that died mid-attempt leaves it to be claimed again after.
    /// </summary>
    public TimeSpan Lease => Timeout * 2 + TimeSpan.FromSeconds(30);

    public bool IsAllowListed(string host) => AllowedHosts.Contains(host, StringComparer.OrdinalIgnoreCase);
}
