using System.ComponentModel.DataAnnotations;

namespace Ingestion.Api.Progress;

/// <summary>Live progress streams (<c>Progress</c> section).</summary>
public sealed class ProgressOptions
{
    public const string Section = "Progress";

    /// <summary>
    /// How often an idle stream sends a comment line, so proxies that cut silent responses keep
    /// it open, and re-reads the job as a safety net for a change the bus did not bring.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>What a browser's EventSource waits before it reconnects after a cut.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromSeconds(1);
}
