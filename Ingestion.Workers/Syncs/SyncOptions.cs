namespace Ingestion.Workers.Syncs;

/// <summary>How workers run syncs. Bound from the <c>Syncs</c> section.</summary>
public sealed class SyncOptions
{
    public const string Section = "Syncs";

    /// <summary>Sync jobs one worker runs at once; each holds at most two pages per partition it works.</summary>
    public int ConcurrentJobs { get; set; } = 4;

    /// <summary>
    /// A message's turn: then the checkpoints are committed and the job goes back to the queue, well
    /// under RabbitMQ's consumer timeout.
    /// </summary>
    public TimeSpan SliceDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A wait for the rate budget up to this long is slept through; a longer one parks the job: its
    /// command is kept in the outbox until the budget returns, holding no message and no thread.
    /// </summary>
    public TimeSpan MaxInlineWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A parked job is looked at again after at most this, so the reaper sees it alive (its heartbeat beats at each turn).</summary>
    public TimeSpan MaxPark { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>One request's time limit, headers and body.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Attempts at one page through 5xx answers and network failures before the job fails.</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>429 answers in a row to one page's requests before the partition parks until the upstream's retry time, instead of asking again inside the turn.</summary>
    public int MaxInline429s { get; set; } = 5;

    /// <summary>
    /// Times in a row a partition may start again from its marks after the upstream refused a stale
    /// cursor without a page getting through in between (a committed page, or a retry, starts the count again).
    /// </summary>
    public int MaxCursorResumes { get; set; } = 20;

    /// <summary>A page's body larger than this fails the sync (page_too_large) rather than the worker's memory.</summary>
    public int MaxPageBytes { get; set; } = 16 << 20;

    /// <summary>
    /// Pages fetched and not yet loaded in one worker, all syncs together: responses open, each body read as it arrives
    /// through a buffer of its largest record (<see cref="PageStream"/>), so with MaxPageBytes a bound on its memory for pages.
    /// </summary>
    public int MaxPagesInFlight { get; set; } = 8;

    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often a worker looks for schedules that are due (each slot fires once, whichever worker sees it first).</summary>
    public TimeSpan SchedulePeriod { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long one of a schedule's minutes lasts (<c>everyMinutes</c> of them make a slot): a minute. The end-to-end
    /// tests shorten it so that slots pass in seconds; a deployment has no reason to change it.
    /// </summary>
    public TimeSpan ScheduleMinute { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often the rate budget's grants that no window counts any more are deleted, for keys no sync asks on now (<see cref="RateGrantSweep"/>).</summary>
    public TimeSpan GrantSweepPeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A rejected record's raw JSON is kept up to this many bytes, then cut and marked.</summary>
    public int RejectedRecordBytes { get; set; } = 4096;
}
