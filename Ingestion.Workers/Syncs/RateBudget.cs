using System.Collections.Concurrent;
using System.Diagnostics;
using Ingestion.Platform.Sources;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// The rate budget of one credential, shared by every worker through PostgreSQL
/// (<c>ingestion.rate_budgets</c>, <c>ingestion.rate_grants</c>). A request may go only when
/// every policy admits it: the declared ones, and a tighter one the upstream revealed. A policy
/// "R requests in any W seconds" is kept as a sliding log of grants, each a time slot: a slot is
/// free when fewer than R slots lie within W before it. Slots are handed out in order, each at the
/// earliest time every policy allows, and may lie a little ahead (<see cref="Lead"/>): the caller
/// sleeps until its slot and sends then (<see cref="WaitForAsync"/>), so partitions queue for the
/// budget instead of polling it, and the pace is the policy's, not a polling tick's. A short window's
/// slots are spaced evenly over it (its length and the margin over its requests, from
/// <see cref="MinPace"/> to <see cref="MaxPace"/>), not taken in bursts: a burst sends its requests
/// together, so the last ones reach the upstream late behind the others while the next burst's first
/// arrives on time, and the margin is spent by the client itself. Slots follow slots, not the moments
/// requests went, so a request sent late does not push the next ones back. One statement takes a
/// slot, under a transaction-scoped advisory lock per budget taken just before it in the same round
/// trip, so two workers (or twenty) never both take the last permit. What the upstream says
/// (<c>Retry-After</c>, a spent <c>X-RateLimit-Remaining</c>) blocks the whole budget until then.
/// Sources sharing a credential may declare different policies: each request is judged by every
/// policy of every source on the key (<c>rate_policies</c>, written with the source, so a policy lasts
/// as long as its source declares it, however seldom that source syncs), and grants are kept for the
/// longest of their windows (older ones are deleted by the grant itself, and by
/// <see cref="ForgetOldGrantsAsync"/> for keys nothing asks on any more). A limit the upstream stopped
/// saying lapses after its window and <see cref="Lapse"/> (<see cref="LearnedLimit"/>). Times are
/// PostgreSQL's clock, the one every worker shares.
/// </summary>
public sealed class RateBudget(NpgsqlDataSource dataSource) : IDisposable
{
    /// <summary>
    /// Added to each window: a request whose slot is t reaches the upstream a little later than t
    /// (the wake-up, the connection, the upstream's own stamping), and the one a window later may
    /// reach it sooner, so an exact log could look one over there. <see cref="WaitForAsync"/> lets a
    /// slot go rather than send more than <see cref="Tolerance"/> late, so the client's share of that
    /// skew is bounded and the margin covers it with the rest left for the network and the upstream.
    /// </summary>
    public static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// How late after its slot a request may still be sent (counted from the slot's earliest moment on this worker's
    /// clock, and widened by the skew of a worker that knows PostgreSQL's clock loosely: <see cref="ReserveAsync"/>);
    /// later, the slot is let go and another taken.
    /// </summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(12);

    /// <summary>
    /// How far ahead a slot may be reserved: enough for every partition of a sync to hold the next
    /// one at a pace of ten a second. A farther slot is not taken (the caller asks again when it comes
    /// within reach), so a block the upstream asks for finds few requests already promised, and a
    /// slot a partition no longer needs wastes little.
    /// </summary>
    public static readonly TimeSpan Lead = TimeSpan.FromSeconds(2);

    /// <inheritdoc cref="SourceRateLimit.Lapse"/>
    public static readonly TimeSpan Lapse = SourceRateLimit.Lapse;

    /// <summary>
    /// The longest spacing between two grants that pacing imposes: a policy whose window over its
    /// requests is longer (5 per minute) keeps its burst, so a small sync does not wait minutes for its first pages.
    /// </summary>
    public static readonly TimeSpan MaxPace = TimeSpan.FromSeconds(1);

    /// <summary>Spacings shorter than this (a thousand a second) are below what a timer keeps: the log alone holds such policies.</summary>
    public static readonly TimeSpan MinPace = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Sent in the same round trip as <see cref="SlotSql"/> and in the same (implicit) transaction: the
    /// slot statement takes its snapshot after the lock is held, so it sees every slot given before it.
    /// </summary>
    private const string LockSql = "select pg_advisory_xact_lock(hashtextextended('ingestion.budget:' || @key, 0))";

    // The earliest slot every policy allows: not before now and the caller's round trip (a slot that has
    // passed when its answer arrives is let go), the upstream's block, the pace after the latest slot, nor
    // a window (and the margin, and the caller's skew) after the R-th latest slot of any policy. Policies: the
    // caller's (its run may hold an older definition), every source's on the key, and the learned one in
    // force. The slot is taken when it lies within the lead; the grants older than the longest window go.
    private const string SlotSql = $"""
        with clock as (select clock_timestamp() as now),
        budget as (
            select b.blocked_until, case when {LearnedLimit.InForceSql} then b.learned_requests end as learned_requests, b.learned_seconds
            from ingestion.rate_budgets b where b.budget_key = @key
        ),
        policies as (
            select d.requests, d.per_seconds from unnest(@requests::int[], @seconds::int[]) as d(requests, per_seconds)
            union
            select p.requests, p.per_seconds from ingestion.rate_policies p where p.budget_key = @key
            union
            select learned_requests, learned_seconds from budget where learned_requests is not null
        ),
        windows as (select requests, make_interval(secs => per_seconds) + @margin + @skew as span from policies),
        slot as (
            select greatest(
                (select now from clock) + @round_trip,
                (select blocked_until from budget),
                (select max(g.at) from ingestion.rate_grants g where g.budget_key = @key)
                    + (select max(w.span / w.requests) from windows w where w.span / w.requests between @min_pace and @max_pace),
                (select max(nth.at + w.span) from windows w
                     cross join lateral (select g.at from ingestion.rate_grants g where g.budget_key = @key
                                         order by g.at desc offset w.requests - 1 limit 1) nth)
            ) as at
        ),
        taken as (
            insert into ingestion.rate_grants (budget_key, at)
            select @key, slot.at from slot, clock where slot.at <= clock.now + @lead
            returning at
        ),
        forgotten as (
            delete from ingestion.rate_grants g
            where g.budget_key = @key and g.at < (select now from clock) - (select max(span) from windows)
        )
        select slot.at, clock.now, exists (select 1 from taken) from slot, clock
        """;

    // Keys nothing asks on any more keep their last grants: each goes once older than the longest window
    // that still counts on its key (none once every source on the key is gone).
    private const string ForgetSql = $"""
        delete from ingestion.rate_grants g
        where g.at < clock_timestamp() - @margin - coalesce((
            select make_interval(secs => max(w.per_seconds)) from (
                select p.per_seconds from ingestion.rate_policies p where p.budget_key = g.budget_key
                union all
                select b.learned_seconds from ingestion.rate_budgets b where b.budget_key = g.budget_key and {LearnedLimit.InForceSql}
            ) w), interval '0')
          and not exists (select 1 from ingestion.rate_grants n where n.budget_key = g.budget_key and n.at > clock_timestamp() - @idle)
        """;

    private readonly SlotClock _clock = new();

    private readonly DatabaseClock _databaseClock = new();

    /// <summary>Blocks the upstream asked for that this worker heard, on its own monotonic clock: a slot taken before one is let go.</summary>
    private readonly ConcurrentDictionary<string, long> _blockedUntil = new(StringComparer.Ordinal);

    /// <summary>The last slot statement's round trip (<see cref="Stopwatch"/> ticks): the soonest a slot may lie after PostgreSQL's now.</summary>
    private long _roundTrip;

    /// <summary>
    /// Takes one permit now: <see cref="TimeSpan.Zero"/> when the request may go now, otherwise how
    /// long until one may be free (nothing is taken then; ask again after it).
    /// </summary>
    public async Task<TimeSpan> TryTakeAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, CancellationToken cancellationToken)
    {
        var slot = await ReserveAsync(budgetKey, declared, TimeSpan.Zero, cancellationToken);
        return slot.Reserved ? TimeSpan.Zero : slot.Wait;
    }

    /// <summary>
    /// The next free slot: taken when it lies within <paramref name="lead"/> (send at it, through
    /// <see cref="WaitForAsync"/>), otherwise only said (nothing is taken; ask again when it comes within the lead).
    /// </summary>
    public async Task<BudgetSlot> ReserveAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, TimeSpan lead,
        CancellationToken cancellationToken)
    {
        // A slot is sent up to its uncertainty on this worker's clock late (it waits for the slot's latest moment): what
        // exceeds half the tolerance widens the windows it is counted in (skew) and its deadline, so a worker that knows
        // PostgreSQL's clock only loosely (a distant database) keeps the policy and still has half the tolerance to wake
        // in, instead of letting every slot go. Near the database (a reading within a few milliseconds) nothing changes.
        var skew = _databaseClock.Uncertainty(Stopwatch.GetTimestamp()) - Tolerance / 2;
        skew = skew > TimeSpan.Zero ? skew : TimeSpan.Zero;

        // A slot for later (a lead) lies at least a round trip ahead: PostgreSQL's now at the statement's start has passed by the answer.
        var roundTrip = lead > TimeSpan.Zero ? Stopwatch.GetElapsedTime(0, Volatile.Read(ref _roundTrip)) : TimeSpan.Zero;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(LockSql) { Parameters = { new NpgsqlParameter("key", budgetKey) } },
                new NpgsqlBatchCommand(SlotSql)
                {
                    Parameters =
                    {
                        new NpgsqlParameter("key", budgetKey),
                        new NpgsqlParameter("requests", declared.Select(p => p.Requests).ToArray()),
                        new NpgsqlParameter("seconds", declared.Select(p => p.PerSeconds).ToArray()),
                        new NpgsqlParameter("lapse", Lapse),
                        new NpgsqlParameter("margin", Margin),
                        new NpgsqlParameter("min_pace", MinPace),
                        new NpgsqlParameter("max_pace", MaxPace),
                        new NpgsqlParameter("lead", lead),
                        new NpgsqlParameter("skew", skew),
                        new NpgsqlParameter("round_trip", roundTrip),
                    },
                },
            },
        };

        // No transaction of its own: a batch runs in one implicit transaction, which ends (releasing the lock) with it.
        var asked = Stopwatch.GetTimestamp();
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var answered = Stopwatch.GetTimestamp();
        Volatile.Write(ref _roundTrip, answered - asked);
        var (at, now) = (reader.GetDateTime(0), reader.GetDateTime(1));
        var (earliest, latest) = _databaseClock.Place(at, now, asked, answered);
        var deadline = earliest + (long)((Tolerance + skew).TotalSeconds * Stopwatch.Frequency);
        return new BudgetSlot(at - now, reader.GetBoolean(2), earliest, latest, deadline, at);
    }

    /// <summary>
    /// Sleeps until a taken slot (<see cref="SlotClock"/>: the caller goes on from the clock's thread, so
    /// its request leaves at the slot); false when it must be let go instead of used: this worker is past
    /// its <see cref="BudgetSlot.Deadline"/> (it woke late on a busy machine), its grant is gone (a worker
    /// the upstream asked for a pause deleted the key's grants to come: <see cref="ObserveAsync"/>; checked
    /// a couple of round trips before the slot, so the check does not delay the request, when the slot lies that far ahead), or this worker
    /// heard of a pause itself. The caller then gives the slot back (<see cref="ReleaseAsync"/>).
    /// </summary>
    public async Task<bool> WaitForAsync(string budgetKey, BudgetSlot slot, CancellationToken cancellationToken)
    {
        // A slot given for at once (no time to confirm it before it passes) was given after any pause stored before it.
        var confirmAt = slot.Latest - 2 * Volatile.Read(ref _roundTrip) - Stopwatch.Frequency / 1000;
        if (Stopwatch.GetTimestamp() < confirmAt)
        {
            await _clock.WaitUntilAsync(confirmAt, cancellationToken);
            if (!await StillGrantedAsync(budgetKey, slot.At, cancellationToken))
            {
                return false;
            }
        }

        // Never sent before the slot's latest possible moment on this worker's clock, nor after its deadline.
        if (Stopwatch.GetTimestamp() < slot.Latest)
        {
            await _clock.WaitUntilAsync(slot.Latest, cancellationToken);
        }

        var now = Stopwatch.GetTimestamp();
        if (now > slot.Deadline)
        {
            return false;
        }

        return !(_blockedUntil.TryGetValue(budgetKey, out var blocked) && blocked > now);
    }

    /// <summary>
    /// Gives back a slot that was let go, never used: its grant leaves the log, so what the budget counts (and the source's
    /// budget view shows) are the requests that went out. Never unsafe: the slots placed after it only ever count more
    /// requests than were sent.
    /// </summary>
    public async Task ReleaseAsync(string budgetKey, BudgetSlot slot, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            delete from ingestion.rate_grants
            where ctid = (select ctid from ingestion.rate_grants where budget_key = @key and at = @at limit 1)
            """);
        command.Parameters.AddWithValue("key", budgetKey);
        command.Parameters.AddWithValue("at", slot.At);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public void Dispose() => _clock.Dispose();

    private async Task<bool> StillGrantedAsync(string budgetKey, DateTime at, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select exists (select 1 from ingestion.rate_grants where budget_key = @key and at = @at)");
        command.Parameters.AddWithValue("key", budgetKey);
        command.Parameters.AddWithValue("at", at);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Deletes the grants no policy counts any more, on every key: those of keys no sync asks on now.</summary>
    public Task<int> ForgetOldGrantsAsync(CancellationToken cancellationToken) => ForgetOldGrantsAsync(TimeSpan.Zero, cancellationToken);

    /// <summary>
    /// As <see cref="ForgetOldGrantsAsync(CancellationToken)"/>, on the keys that took no grant for <paramref name="idle"/>:
    /// a turn that read its source before a PUT goes on with the policies and the credential (so the key) it read until
    /// it ends, and the policies stored now may no longer count the grants its own still do (none do on a key whose
    /// credential was replaced). Longer than a turn lasts, no such turn is left.
    /// </summary>
    public async Task<int> ForgetOldGrantsAsync(TimeSpan idle, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ForgetSql);
        command.Parameters.AddWithValue("margin", Margin);
        command.Parameters.AddWithValue("lapse", Lapse);
        command.Parameters.AddWithValue("idle", idle);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records what a response said: the budget is blocked until <see cref="RateSignal.BlockedUntil"/>
    /// (never shortened by a later, more hopeful answer), and a limit tighter than every declared
    /// policy of the same window becomes a learned policy, so pacing settles below the real limit
    /// instead of meeting it with 429s. The block is stored on PostgreSQL's clock, the one
    /// <see cref="TryTakeAsync"/> compares it with: what the worker keeps is how long from
    /// <paramref name="observedAt"/> (its own clock, when it read the headers) the wait lasts, so a
    /// worker whose clock is off blocks the budget neither too long nor too short. A block also deletes the
    /// key's grants still to come, which other workers may hold up to <see cref="Lead"/> ahead: each confirms
    /// its grant before sending (<see cref="WaitForAsync"/>), so the pause holds every worker, and asks again.
    /// </summary>
    public async Task ObserveAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, RateSignal signal,
        DateTimeOffset observedAt, CancellationToken cancellationToken)
    {
        var learned = Learned(declared, signal);
        if (signal.BlockedUntil is null && learned is null)
        {
            return;
        }

        TimeSpan? blockedFor = signal.BlockedUntil is { } until ? until - observedAt : null;
        if (blockedFor is { } pause && pause > TimeSpan.Zero)
        {
            var end = Stopwatch.GetTimestamp() + (long)(pause.TotalSeconds * Stopwatch.Frequency);
            _blockedUntil.AddOrUpdate(budgetKey, end, (_, known) => Math.Max(known, end));
        }

        await using var command = dataSource.CreateCommand("""
            with withdrawn as (
                delete from ingestion.rate_grants g
                where g.budget_key = @key and @blocked_for::interval is not null and g.at > clock_timestamp()
            )
            insert into ingestion.rate_budgets as b (budget_key, blocked_until, learned_requests, learned_seconds, learned_at)
            values (@key, clock_timestamp() + @blocked_for, @requests, @seconds, case when @requests::int is not null then clock_timestamp() end)
            on conflict (budget_key) do update set
                blocked_until = greatest(b.blocked_until, excluded.blocked_until),
                learned_requests = coalesce(excluded.learned_requests, b.learned_requests),
                learned_seconds = coalesce(excluded.learned_seconds, b.learned_seconds),
                learned_at = coalesce(excluded.learned_at, b.learned_at),
                updated_at = now()
            """);
        command.Parameters.AddWithValue("key", budgetKey);
        command.Parameters.Add(new NpgsqlParameter("blocked_for", NpgsqlTypes.NpgsqlDbType.Interval) { Value = (object?)blockedFor ?? DBNull.Value });
        command.Parameters.AddWithValue("requests", (object?)learned?.Requests ?? DBNull.Value);
        command.Parameters.AddWithValue("seconds", (object?)learned?.PerSeconds ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A limit the upstream revealed that is tighter than what was declared for its window (the
    /// window from <c>RateLimit-Policy</c>, else the shortest declared one).
    /// </summary>
    public static RateLimitPolicy? Learned(IReadOnlyList<RateLimitPolicy> declared, RateSignal signal)
    {
        if (signal.Limit is not { } limit || limit <= 0)
        {
            return null;
        }

        var seconds = signal.WindowSeconds ?? (declared.Count > 0 ? declared.Min(p => p.PerSeconds) : (int?)null);
        if (seconds is not { } window || window <= 0)
        {
            return null;
        }

        var allowed = declared.Where(p => p.PerSeconds == window).Select(p => (int?)p.Requests).Min();
        return allowed is null || limit < allowed ? new RateLimitPolicy(limit, window) : null;
    }

    /// <summary>The fastest pace every declared policy allows, in requests per second.</summary>
    public static double Ceiling(IReadOnlyList<RateLimitPolicy> policies) =>
        policies.Count == 0 ? double.PositiveInfinity : policies.Min(p => (double)p.Requests / p.PerSeconds);
}

/// <summary>
/// A slot of the budget: <see cref="Wait"/> from now on PostgreSQL's clock; <see cref="Reserved"/>
/// when it is the caller's, otherwise when to expect one. Where it falls on this worker's clock, as
/// <see cref="Stopwatch"/> timestamps: no earlier than <see cref="Earliest"/>, no later than
/// <see cref="Latest"/> (no worker's wall clock is compared with PostgreSQL's); sent no later than
/// <see cref="Deadline"/>. <see cref="At"/> is the grant itself, on PostgreSQL's clock.
/// </summary>
public readonly record struct BudgetSlot(TimeSpan Wait, bool Reserved, long Earliest, long Latest, long Deadline, DateTime At);
