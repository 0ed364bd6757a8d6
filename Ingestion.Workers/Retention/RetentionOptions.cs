using System.ComponentModel.DataAnnotations;

namespace Ingestion.Workers.Retention;

/// <summary>What is kept, and for how long. Bound from the <c>Retention</c> configuration section.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>How often the purge runs: once per period across every worker.</summary>
    public TimeSpan Period { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// A finished job (completed, ready, failed or cancelled) is purged with its files and its
    /// history this long after its last change, i.e. after it finished.
    /// </summary>
    public TimeSpan Jobs { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Jobs (or documents) purged per transaction; their rows stay locked while their objects are deleted.</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;
}
