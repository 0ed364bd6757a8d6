using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Sources;

/// <summary>How sources keep their credentials and which hosts they may call. Bound from the <c>Sources</c> section.</summary>
public sealed class SourceOptions
{
    public const string Section = "Sources";

    /// <summary>
    /// The key that encrypts sources' secrets at rest (AES-256-GCM) and names their rate budgets:
    /// 32 random bytes, base64 (<c>openssl rand -base64 32</c>). Required: the hosts refuse to start
    /// without it. Changing it makes stored secrets unreadable; each source must then be given its
    /// secret again (<c>PUT /v1/sources/{name}</c>).
    /// </summary>
    [Required]
    public string SecretKey { get; set; } = "";

    /// <summary>
    /// Host names (exact, case-insensitive) a source's base URL may name even though they resolve to
    /// a loopback, private or link-local address: APIs inside the organisation's network. Everything
    /// else must be public, as for webhook callbacks, so a source cannot read the internal network.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>How long resolving a source's host may take when it is checked.</summary>
    public TimeSpan ResolveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The shortest schedule a source may carry, so a tenant cannot keep workers busy polling.</summary>
    [Range(1, 1440)]
    public int MinimumScheduleMinutes { get; set; } = 5;

    public bool IsAllowListed(string host) => AllowedHosts.Contains(host, StringComparer.OrdinalIgnoreCase);
}
