namespace Ingestion.Workers.Reaper;

/// <summary>When a job counts as stranded. Bound from the <c>Reaper</c> configuration section.</summary>
public sealed class ReaperOptions
{
    public const string Section = "Reaper";

    /// <summary>How often the reaper looks: once per period across every worker.</summary>
    public TimeSpan Period { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// An unfinished job with no change and no heartbeat for this long, and whose lock nobody
    /// holds, has its work sent again. Running work reports progress several times a second and
    /// a waiting job beats at every turn in the queue, so this only needs to exceed the longest
    /// quiet stretch: one batch's commit, or a job's wait in a long queue.
    /// </summary>
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Jobs looked at per kind and run.</summary>
    public int BatchSize { get; set; } = 100;
}
