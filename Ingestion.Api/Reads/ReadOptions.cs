using System.ComponentModel.DataAnnotations;

namespace Ingestion.Api.Reads;

/// <summary>The read API. Bound from the <c>Reads</c> configuration section.</summary>
public sealed class ReadOptions
{
    public const string Section = "Reads";

    /// <summary>
    /// Secret that signs pagination cursors (HMAC-SHA256), so a client cannot forge or alter
    /// one. At least 32 characters; every API instance must have the same one. Changing it
    /// invalidates cursors handed out before (their clients start over from the first page).
    /// </summary>
    [Required, MinLength(32)]
    public string CursorKey { get; set; } = "";

    /// <summary>Rows of a JSON page when the client does not ask for a <c>limit</c>.</summary>
    [Range(1, 10_000)]
    public int DefaultPageSize { get; set; } = 100;

    /// <summary>Most rows of a JSON page; larger selections are paged, or exported as NDJSON or CSV.</summary>
    [Range(1, 10_000)]
    public int MaxPageSize { get; set; } = 1000;

    /// <summary>Most values one <c>[in]</c> filter may list.</summary>
    [Range(1, 10_000)]
    public int MaxInValues { get; set; } = 100;

    /// <summary>
    /// Above this many rows (PostgreSQL's estimate) a filter that no index serves is refused
    /// with the index to add, rather than scanning the table on every request.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long UnindexedScanMaxRows { get; set; } = 100_000;

    /// <summary>How long a client may reuse an answer before revalidating it with its ETag (Cache-Control max-age).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan CacheMaxAge { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest a JSON page or summary may take in PostgreSQL; exports are not bounded.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan PageTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Read connections opened at start-up and kept open (the read pool's minimum size), so the first
    /// seconds of load do not open them while requests wait (<see cref="ReadPoolWarmUp"/>). Each is a
    /// PostgreSQL backend and about 72 KiB of buffers in the API; 0 opens none until reads need them.
    /// </summary>
    [Range(0, 100)]
    public int WarmConnections { get; set; } = 16;

    /// <summary>
    /// Most read connections open at once: the read pool's maximum (it replaces a <c>Maximum Pool Size</c> in
    /// <c>ConnectionStrings:Read</c>). A read that finds them all busy waits for one to come back, up to
    /// <see cref="ConnectionWait"/>, instead of opening another: Npgsql's own maximum (100) let a hiccup of a few tens of
    /// milliseconds at 2,000 req/s open dozens of connections at once (34 to 80 in one second of <c>make bench-read</c>),
    /// each a PostgreSQL backend to fork and authenticate on the cores that serve the reads, which stretched the hiccup to
    /// a third of a second. With it at <see cref="WarmConnections"/> (the default) the pool is fixed: opened at start-up,
    /// never grown under load. Size it to what the database can run at once, not to the request rate: at a few
    /// milliseconds a read, 16 connections serve thousands of reads a second. Exports hold one each for their whole
    /// length, so they may take at most <see cref="ExportsInFlight"/>, fewer than this.
    /// </summary>
    [Range(2, 1000)]
    public int MaxConnections { get; set; } = 16;

    /// <summary>
    /// Longest a read waits for a connection when every one is busy; then it is answered 503 "The service is busy" with
    /// <c>Retry-After</c> (not "PostgreSQL is unavailable", which a wait for a pooled connection is not, unless the read
    /// database has just failed to open one: <see cref="ReadDatabase.OpenConnectionAsync"/>). Also bounds
    /// opening a new connection to the read database, and a read's wait for one of its tenant's
    /// <see cref="ConcurrentReadsPerTenant"/>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:01:00")]
    public TimeSpan ConnectionWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Most exports (NDJSON or CSV) one API instance runs at once: each holds a read connection from its first row to its
    /// last, so this stays below <see cref="MaxConnections"/> and the rest serve pages and summaries however many
    /// exports are asked for. One more is refused at once with 503 and <c>Retry-After</c> (<see cref="ExportSlots"/>).
    /// </summary>
    [Range(1, 999)]
    public int ExportsInFlight { get; set; } = 4;

    /// <summary>
    /// Most exports one tenant runs at once on one API instance; one more is refused with 429 and <c>Retry-After</c>. Less
    /// than half of <see cref="ExportsInFlight"/> (checked at start-up): two tenants' long exports never take them all.
    /// </summary>
    [Range(1, 999)]
    public int ExportsInFlightPerTenant { get; set; } = 1;

    /// <summary>
    /// Most reads (pages, summaries, exports) one tenant runs at once on one API instance; the next ones wait for one to
    /// end, up to <see cref="ConnectionWait"/>, then are refused with 429. With the other tenants' exports, below
    /// <see cref="MaxConnections"/> (checked at start-up): one tenant whose reads are slow leaves the others connections
    /// for their pages. It bounds one tenant, not several: two slow tenants can still fill the pool.
    /// </summary>
    [Range(1, 999)]
    public int ConcurrentReadsPerTenant { get; set; } = 12;

    /// <summary>Each tenant's read budget: a token bucket per API instance.</summary>
    [Required]
    public ReadBudgetOptions Budget { get; set; } = new();
}

/// <summary>
/// A token bucket: <see cref="Burst"/> requests at once, refilled at <see cref="PerSecond"/>.
/// Kept in each API instance's memory (a read must not cost a write); with N instances behind a
/// balancer a tenant gets about N times the budget.
/// </summary>
public sealed class ReadBudgetOptions
{
    [Range(1, 1_000_000)]
    public int PerSecond { get; set; } = 1000;

    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 2000;

    /// <summary>Budgets of particular tenants, by tenant id, in place of the default.</summary>
    public Dictionary<string, ReadBudgetOptions> Tenants { get; set; } = [];
}
