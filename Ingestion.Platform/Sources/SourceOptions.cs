using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Sources;

/// <summary>How sources keep their credentials. Bound from the <c>Sources</c> section.</summary>
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
}
