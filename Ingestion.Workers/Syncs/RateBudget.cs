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
    /// Added to each window for what lies between a request leaving this worker and the upstream counting it: the network,
    /// and the upstream's own queue before it stamps the request (a busy upstream stamps a request that waited behind another
    /// one's page later than one that did not, and the two may then look closer than they were sent). The log keeps requests
    /// this much further apart than the window. A source may declare its own (<see cref="SourceRateLimit.MarginMilliseconds"/>):
    /// it is about the way to the upstream, so every policy on a key is judged with the widest margin a source on the key
    /// declares (<c>rate_policies.margin_ms</c>). This one is the default, and what judges whether the budget's own grants
    /// explain a spent <c>Remaining</c>.
    /// </summary>
    public static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(SourceRateLimit.DefaultMarginMilliseconds);

    /// <summary>
    /// The least time a grant allows after its slot's latest moment on this worker's clock for its request to leave (its first
    /// byte written: <see cref="SourceHttp"/>). A grant is the interval from its slot to its end: the slot, this worker's
    /// uncertainty about where the slot falls on its clock (<see cref="DatabaseClock"/>), and a tolerance for a late wake-up,
    /// sized by how late this worker's recent wake-ups were (<see cref="WakeLateness"/>), from this to <see cref="MaxTolerance"/>.
    /// The grant is stored with its end (<c>rate_grants.ends</c>) and counts in every window that interval overlaps, so a request
    /// sent anywhere inside it keeps every policy, and a wake-up that late still sends instead of losing the slot; only a
    /// later one gives the slot back.
    /// </summary>
    public static readonly TimeSpan MinTolerance = TimeSpan.FromMilliseconds(4);

    /// <summary>The most a grant's tolerance grows to on a busy worker: each millisecond of it slows the pace by a millisecond a window.</summary>
    public static readonly TimeSpan MaxTolerance = TimeSpan.FromMilliseconds(40);

    /// <summary>A grant's tolerance before this worker has woken often enough to know how late it wakes.</summary>
    public static readonly TimeSpan FirstTolerance = TimeSpan.FromMilliseconds(12);

    /// <summary>Added to the recent wake-ups' lateness: the way from the wake-up to the request's first byte.</summary>
    private static readonly TimeSpan SendHeadroom = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// A grant this worker read as still there (every slot statement reads the worker's held grants on its key) less than this
    /// before its slot is sent without asking again. An older one is confirmed by a query a couple of round trips before the
    /// slot: a pause the upstream asked for withdraws the grants still to come (<see cref="ObserveAsync"/>). A partition at full
    /// pace takes a grant every spacing, so its worker reads its other grants that often and asks nothing more; a pause stored
    /// within this time before a slot may still meet the request, as it meets a request already in flight.
    /// </summary>
    public static readonly TimeSpan ConfirmWithin = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How long past its longest window a grant stays in the log: an answer that arrives this long after its request is
    /// still judged by every grant the upstream counted before it (<see cref="ObserveAsync(string, IReadOnlyList{RateLimitPolicy}, RateSignal, DateTimeOffset, bool, DateTime?, CancellationToken)"/>).
    /// A slower one may find its oldest grants gone and pause the budget for a window.
    /// </summary>
    public static readonly TimeSpan AnswerLife = TimeSpan.FromSeconds(10);

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
    // a window and the margin after the R-th latest grant end of any policy (a grant counts to its end: it may
    // be sent anywhere up to it). Policies: the caller's (its run may hold an older definition), every source's
    // on the key, and the learned one in force. The slot is taken, with its end (the caller's slack after it),
    // when it lies within the lead; the grants whose end is older than the longest window go. Also which of the
    // caller's held grants (@held) are gone or marked withdrawn by a pause.
    private const string SlotSql = $"""
        with clock as (select clock_timestamp() as now),
        budget as (
            select b.blocked_until, case when {LearnedLimit.InForceSql} then b.learned_requests end as learned_requests, b.learned_seconds
            from ingestion.rate_budgets b where b.budget_key = @key
        ),
        declared as (
            select d.requests, d.per_seconds, @margin as margin from unnest(@requests::int[], @seconds::int[]) as d(requests, per_seconds)
            union
            select p.requests, p.per_seconds, p.margin_ms * interval '1 millisecond' from ingestion.rate_policies p where p.budget_key = @key
        ),
        policies as (
            select requests, per_seconds from declared
            union
            select learned_requests, learned_seconds from budget where learned_requests is not null
        ),
        windows as (select requests, make_interval(secs => per_seconds) + (select max(margin) from declared) as span from policies),
        slot as (
            select greatest(
                (select now from clock) + @round_trip,
                (select blocked_until from budget),
                (select max(g.at) from ingestion.rate_grants g where g.budget_key = @key)
                    + (select max((w.span + @slack) / w.requests) from windows w where (w.span + @slack) / w.requests between @min_pace and @max_pace),
                (select max(nth.ends + w.span) from windows w
                     cross join lateral (select coalesce(g.ends, g.at) as ends from ingestion.rate_grants g where g.budget_key = @key
                                         order by coalesce(g.ends, g.at) desc offset w.requests - 1 limit 1) nth)
            ) as at
        ),
        taken as (
            insert into ingestion.rate_grants (budget_key, at, ends)
            select @key, slot.at, slot.at + @slack from slot, clock where slot.at <= clock.now + @lead
            returning id
        ),
        forgotten as (
            delete from ingestion.rate_grants g
            where g.budget_key = @key and coalesce(g.ends, g.at) < (select now from clock) - (select max(span) from windows) - @answer_life
        )
        select slot.at, clock.now, (select id from taken),
               array(select h from unnest(@held::bigint[]) h
                     where not exists (select 1 from ingestion.rate_grants g where g.id = h and g.budget_key = @key and not g.withdrawn))
        from slot, clock
        """;

    // Keys nothing asks on any more keep their last grants: each goes once older than the longest window
    // that still counts on its key, with the widest margin declared on it (none once every source on the key is gone).
    private const string ForgetSql = $"""
        delete from ingestion.rate_grants g
        where coalesce(g.ends, g.at) < clock_timestamp()
            - greatest(@margin, coalesce((select max(p.margin_ms) from ingestion.rate_policies p where p.budget_key = g.budget_key), 0)
                                * interval '1 millisecond')
            - coalesce((
            select make_interval(secs => max(w.per_seconds)) from (
                select p.per_seconds from ingestion.rate_policies p where p.budget_key = g.budget_key
                union all
                select b.learned_seconds from ingestion.rate_budgets b where b.budget_key = g.budget_key and {LearnedLimit.InForceSql}
            ) w), interval '0')
          and not exists (select 1 from ingestion.rate_grants n where n.budget_key = g.budget_key and n.at > clock_timestamp() - @idle)
        """;

    private readonly SlotClock _clock = new();

    private readonly DatabaseClock _databaseClock = new();

    private readonly WakeLateness _lateness = new();

    /// <summary>Blocks the upstream asked for that this worker heard, on its own monotonic clock: a slot taken before one is let go.</summary>
    private readonly ConcurrentDictionary<string, long> _blockedUntil = new(StringComparer.Ordinal);

    /// <summary>The last slot statement's round trip (<see cref="Stopwatch"/> ticks): the soonest a slot may lie after PostgreSQL's now.</summary>
    private long _roundTrip;

    /// <summary>How long after its slot a hold nobody awaited is dropped (its partition stopped between the grant and the wait).</summary>
    private static readonly TimeSpan StaleHold = TimeSpan.FromSeconds(10);

    /// <summary>The grants this worker holds and has not sent nor let go, per key: what each slot statement reads back.</summary>
    private readonly ConcurrentDictionary<string, List<SlotHold>> _holds = new(StringComparer.Ordinal);

    /// <summary>
    /// Takes one permit now: <see cref="TimeSpan.Zero"/> when the request may go now, otherwise how
    /// long until one may be free (nothing is taken then; ask again after it).
    /// </summary>
    public async Task<TimeSpan> TryTakeAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, CancellationToken cancellationToken)
    {
        var slot = await ReserveAsync(budgetKey, declared, Margin, TimeSpan.Zero, cancellationToken);
        Forget(budgetKey, slot.Hold);
        return slot.Reserved ? TimeSpan.Zero : slot.Wait;
    }

    /// <summary>
    /// The next free slot: taken when it lies within <paramref name="lead"/> (send at it, through
    /// <see cref="AwaitSlotAsync"/>), otherwise only said (nothing is taken; ask again when it comes within the lead).
    /// The same statement reads which of this worker's other held grants on the key are still there.
    /// </summary>
    public Task<BudgetSlot> ReserveAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, TimeSpan lead,
        CancellationToken cancellationToken) =>
        ReserveAsync(budgetKey, declared, Margin, lead, cancellationToken);

    /// <inheritdoc cref="ReserveAsync(string, IReadOnlyList{RateLimitPolicy}, TimeSpan, CancellationToken)"/>
    /// <param name="margin">The caller's source's margin (<see cref="SourceRateLimit.Margin"/>): the key's policies are judged with
    /// the widest of it and the margins of the key's other sources.</param>
    public async Task<BudgetSlot> ReserveAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, TimeSpan margin, TimeSpan lead,
        CancellationToken cancellationToken)
    {
        // The grant's slack: how long after its slot (on PostgreSQL's clock) its request may leave. It leaves no sooner than
        // the slot's latest moment on this worker's clock and up to the tolerance after it, so the slack is this worker's
        // uncertainty about PostgreSQL's clock plus the tolerance; the grant counts to its end. A worker that knows
        // PostgreSQL's clock loosely (a distant database) keeps the policy and still has the whole tolerance to wake in.
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!_databaseClock.Known)
        {
            // Where PostgreSQL's clock stands is read once first: a grant's slack is known before its slot is taken.
            await ReadClockAsync(connection, cancellationToken);
        }

        var asked = Stopwatch.GetTimestamp();
        var slack = _databaseClock.Uncertainty(asked) + Tolerance;

        // A slot for later (a lead) lies at least a round trip ahead: PostgreSQL's now at the statement's start has passed by the answer.
        var roundTrip = lead > TimeSpan.Zero ? Stopwatch.GetElapsedTime(0, Volatile.Read(ref _roundTrip)) : TimeSpan.Zero;
        var holds = _holds.GetOrAdd(budgetKey, _ => []);
        SlotHold[] held;
        lock (holds)
        {
            // A hold whose slot passed long ago was never awaited (its partition stopped): nothing reads it any more.
            holds.RemoveAll(h => Stopwatch.GetElapsedTime(h.Latest, asked) > StaleHold);
            held = holds.ToArray();
        }

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
                        new NpgsqlParameter("margin", margin),
                        new NpgsqlParameter("min_pace", MinPace),
                        new NpgsqlParameter("max_pace", MaxPace),
                        new NpgsqlParameter("lead", lead),
                        new NpgsqlParameter("answer_life", AnswerLife),
                        new NpgsqlParameter("slack", slack),
                        new NpgsqlParameter("round_trip", roundTrip),
                        new NpgsqlParameter("held", held.Select(h => h.Grant).ToArray()),
                    },
                },
            },
        };

        // No transaction of its own: a batch runs in one implicit transaction, which ends (releasing the lock) with it.
        var sent = Stopwatch.GetTimestamp();
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var answered = Stopwatch.GetTimestamp();
        Volatile.Write(ref _roundTrip, answered - sent);
        var (at, now, grant) = (reader.GetDateTime(0), reader.GetDateTime(1), reader.IsDBNull(2) ? (long?)null : reader.GetInt64(2));
        var taken = grant is not null;
        var withdrawn = reader.GetFieldValue<long[]>(3).ToHashSet();

        // The statement read the held grants after taking the lock, so no sooner than it was sent: each is confirmed as of then.
        foreach (var hold in held)
        {
            hold.Read(withdrawn.Contains(hold.Grant), sent);
        }

        var (earliest, latest) = _databaseClock.Place(at, now, sent, answered);
        var deadline = earliest + (long)(slack.TotalSeconds * Stopwatch.Frequency);
        SlotHold? mine = null;
        if (grant is { } id)
        {
            mine = new SlotHold(id, latest, sent);
            lock (holds)
            {
                holds.Add(mine);
            }
        }

        return new BudgetSlot(at - now, taken, earliest, latest, deadline, at)
        {
            RoundTrip = Stopwatch.GetElapsedTime(asked, answered), Grant = grant, Hold = mine,
        };
    }

    /// <summary>
    /// Sleeps until a taken slot (<see cref="SlotClock"/>: the caller goes on from the clock's thread, so its request leaves
    /// at the slot) and says whether to send it, or why not: this worker is past the slot's <see cref="BudgetSlot.Deadline"/>
    /// (it woke beyond the grant's end on a busy machine), its grant is gone (a worker the upstream asked for a pause withdrew
    /// the key's grants to come: <see cref="ObserveAsync"/>), or this worker heard of a pause itself. A slot not sent is
    /// given back here (<see cref="ReleaseAsync"/>). The grant is confirmed by a query a couple of round trips before the slot
    /// only when no slot statement read it within <see cref="ConfirmWithin"/> of the slot.
    /// </summary>
    public async Task<SlotVerdict> AwaitSlotAsync(string budgetKey, BudgetSlot slot, PacingLog? log, CancellationToken cancellationToken)
    {
        var verdict = await JudgeAsync(budgetKey, slot, log, cancellationToken);
        Forget(budgetKey, slot.Hold);
        if (verdict != SlotVerdict.Send)
        {
            log?.LetGo(verdict);
            await ReleaseAsync(budgetKey, slot, cancellationToken);
        }

        return verdict;
    }

    /// <summary><see cref="AwaitSlotAsync"/>: true when the request is to be sent now; a slot not sent is given back.</summary>
    public async Task<bool> WaitForAsync(string budgetKey, BudgetSlot slot, CancellationToken cancellationToken) =>
        await AwaitSlotAsync(budgetKey, slot, null, cancellationToken) == SlotVerdict.Send;

    private async Task<SlotVerdict> JudgeAsync(string budgetKey, BudgetSlot slot, PacingLog? log, CancellationToken cancellationToken)
    {
        // Read as still there this recently before the slot: no pause withdrew it in time to matter more than one in flight.
        if (slot.Hold is { Withdrawn: true })
        {
            return SlotVerdict.Withdrawn;
        }

        var freshFrom = slot.Latest - (long)(ConfirmWithin.TotalSeconds * Stopwatch.Frequency);
        var confirmAt = slot.Latest - 2 * Volatile.Read(ref _roundTrip) - Stopwatch.Frequency / 1000;
        if (Stopwatch.GetTimestamp() < confirmAt && (slot.Hold is not { } hold || hold.ConfirmedAt < freshFrom))
        {
            await _clock.WaitUntilAsync(confirmAt, cancellationToken);
            if (slot.Hold is not { } read || read.ConfirmedAt < freshFrom)
            {
                var asking = Stopwatch.GetTimestamp();
                var granted = await StillGrantedAsync(budgetKey, slot.Grant, cancellationToken);
                log?.Confirmed(Stopwatch.GetElapsedTime(asking));
                if (!granted)
                {
                    return SlotVerdict.Withdrawn;
                }
            }
        }

        if (slot.Hold is { Withdrawn: true })
        {
            return SlotVerdict.Withdrawn;
        }

        // Never sent before the slot's latest possible moment on this worker's clock, nor after its deadline.
        if (Stopwatch.GetTimestamp() < slot.Latest)
        {
            await _clock.WaitUntilAsync(slot.Latest, cancellationToken);
        }

        var now = Stopwatch.GetTimestamp();
        _lateness.Add(Stopwatch.GetElapsedTime(slot.Latest, now));
        if (now > slot.Deadline)
        {
            return SlotVerdict.Late;
        }

        return _blockedUntil.TryGetValue(budgetKey, out var blocked) && blocked > now ? SlotVerdict.Paused : SlotVerdict.Send;
    }

    /// <summary>
    /// Gives back a slot that was let go, never used: its grant leaves the log, so what the budget counts (and the source's
    /// budget view shows) are the requests that went out. Never unsafe: the slots placed after it only ever count more
    /// requests than were sent. <see cref="AwaitSlotAsync"/> does it for the slots it lets go; a caller whose request was
    /// refused at the last moment (<see cref="SendWindow"/>: it would have left past the deadline) does it too.
    /// </summary>
    public async Task ReleaseAsync(string budgetKey, BudgetSlot slot, CancellationToken cancellationToken)
    {
        Forget(budgetKey, slot.Hold);
        if (slot.Grant is not { } grant)
        {
            return;
        }

        // By the grant's id: other grants may share its slot (all those placed at a pause's end), and they are others' requests.
        await using var command = dataSource.CreateCommand("delete from ingestion.rate_grants where id = @grant and budget_key = @key");
        command.Parameters.AddWithValue("key", budgetKey);
        command.Parameters.AddWithValue("grant", grant);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public void Dispose() => _clock.Dispose();

    /// <summary>The tolerance this worker's next grant carries (<see cref="MinTolerance"/>): its recent wake-ups' lateness.</summary>
    public TimeSpan Tolerance => _lateness.Tolerance(MinTolerance, MaxTolerance, SendHeadroom, FirstTolerance);

    private async Task ReadClockAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select clock_timestamp()", connection);
        var asked = Stopwatch.GetTimestamp();
        var now = (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
        var answered = Stopwatch.GetTimestamp();
        _databaseClock.Place(now, now, asked, answered);
        Volatile.Write(ref _roundTrip, answered - asked);
    }

    private void Forget(string budgetKey, SlotHold? hold)
    {
        if (hold is not null && _holds.TryGetValue(budgetKey, out var holds))
        {
            lock (holds)
            {
                holds.Remove(hold);
            }
        }
    }

    private async Task<bool> StillGrantedAsync(string budgetKey, long? grant, CancellationToken cancellationToken)
    {
        if (grant is null)
        {
            return false;
        }

        await using var command = dataSource.CreateCommand("select exists (select 1 from ingestion.rate_grants where id = @grant and budget_key = @key and not withdrawn)");
        command.Parameters.AddWithValue("key", budgetKey);
        command.Parameters.AddWithValue("grant", grant.Value);
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
    /// its grant before sending (<see cref="WaitForAsync"/>), so the pause holds every worker, and asks again. A grant whose
    /// slot lies within <see cref="ConfirmWithin"/> is only marked withdrawn, not deleted: its holder may have read it that
    /// recently and send it without asking, and a request sent must stay in the log; a holder that lets it go deletes it.
    /// <paramref name="refused"/>: the response was a 429, whose block always holds (the upstream counted more than the
    /// budget let through, whatever its own grants say).
    /// </summary>
    /// <returns>Whether the answer paused the budget.</returns>
    public Task<bool> ObserveAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, RateSignal signal,
        DateTimeOffset observedAt, bool refused, CancellationToken cancellationToken) =>
        ObserveAsync(budgetKey, declared, signal, observedAt, refused, null, cancellationToken);

    /// <inheritdoc cref="ObserveAsync(string, IReadOnlyList{RateLimitPolicy}, RateSignal, DateTimeOffset, bool, CancellationToken)"/>
    /// <param name="slot">The answered request's slot (PostgreSQL's clock): the grants that explain a spent <c>Remaining</c> are
    /// those the upstream could count when it stamped the request, no later than its slot and ending within a window and the
    /// margin before it. Without it, before now: an answer that took long then leaves out grants the upstream still counted.</param>
    public async Task<bool> ObserveAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, RateSignal signal,
        DateTimeOffset observedAt, bool refused, DateTime? slot, CancellationToken cancellationToken)
    {
        var learned = Learned(declared, signal);
        if (signal.BlockedUntil is null && learned is null)
        {
            return false;
        }

        TimeSpan? blockedFor = signal.BlockedUntil is { } until ? until - observedAt : null;

        // A spent Remaining (no Retry-After) that the budget's own grants explain is no pause: at the policy's full pace the
        // last R requests always lie within the window, so every answer says "none left, whole limit back in a window",
        // and the next slot already lies a window after the R-th latest grant's end, when a request frees up. It pauses
        // every worker only when the upstream counts requests the budget does not know of (another client on the credential).
        // Only an answer that let the request through says that much: a 429 says the upstream counted it over its limit, so
        // its Reset holds however many grants lie in the window.
        var window = signal.WindowSeconds ?? (declared.Count > 0 ? declared.Min(p => p.PerSeconds) : (int?)null);
        var explainable = !refused && signal.RetryAt is null && blockedFor is not null && signal.Limit is > 0 && window is > 0;

        await using var command = dataSource.CreateCommand("""
            with asked as (select coalesce(@slot, clock_timestamp()) as at),
            known as (
                select count(*) as requests from ingestion.rate_grants g
                where g.budget_key = @key and g.at <= (select at from asked)
                  and coalesce(g.ends, g.at) > (select at from asked) - make_interval(secs => @window) - @margin
            ),
            pause as (
                select case when @explainable and (select requests from known) >= @limit or @blocked_for::interval <= interval '0' then null
                            else @blocked_for::interval end as span
            ),
            withdrawn as (
                delete from ingestion.rate_grants g
                where g.budget_key = @key and (select span from pause) is not null and g.at > clock_timestamp() + @confirm_within
            ),
            marked as (
                update ingestion.rate_grants g set withdrawn = true
                where g.budget_key = @key and (select span from pause) is not null
                  and g.at > clock_timestamp() and g.at <= clock_timestamp() + @confirm_within
            ),
            upsert as (
                insert into ingestion.rate_budgets as b (budget_key, blocked_until, learned_requests, learned_seconds, learned_at)
                values (@key, clock_timestamp() + (select span from pause), @requests, @seconds,
                        case when @requests::int is not null then clock_timestamp() end)
                on conflict (budget_key) do update set
                    blocked_until = greatest(b.blocked_until, excluded.blocked_until),
                    learned_requests = coalesce(excluded.learned_requests, b.learned_requests),
                    learned_seconds = coalesce(excluded.learned_seconds, b.learned_seconds),
                    learned_at = coalesce(excluded.learned_at, b.learned_at),
                    updated_at = now()
            )
            select (select span from pause) is not null
            """);
        command.Parameters.AddWithValue("key", budgetKey);
        command.Parameters.Add(new NpgsqlParameter("blocked_for", NpgsqlTypes.NpgsqlDbType.Interval) { Value = (object?)blockedFor ?? DBNull.Value });
        command.Parameters.AddWithValue("requests", (object?)learned?.Requests ?? DBNull.Value);
        command.Parameters.AddWithValue("seconds", (object?)learned?.PerSeconds ?? DBNull.Value);
        command.Parameters.AddWithValue("explainable", explainable);
        command.Parameters.AddWithValue("limit", signal.Limit ?? 0);
        command.Parameters.AddWithValue("window", window ?? 0);
        command.Parameters.AddWithValue("margin", Margin);
        command.Parameters.AddWithValue("confirm_within", ConfirmWithin);
        command.Parameters.Add(new NpgsqlParameter("slot", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)slot ?? DBNull.Value });
        var paused = (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
        if (paused && blockedFor is { } pause && pause > TimeSpan.Zero)
        {
            var end = Stopwatch.GetTimestamp() + (long)(pause.TotalSeconds * Stopwatch.Frequency);
            _blockedUntil.AddOrUpdate(budgetKey, end, (_, known) => Math.Max(known, end));
        }

        return paused && blockedFor > TimeSpan.Zero;
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
/// <see cref="Deadline"/>, the grant's end. <see cref="At"/> is the grant's slot, on PostgreSQL's clock (other grants may share it: <see cref="Grant"/> is this one).
/// </summary>
public readonly record struct BudgetSlot(TimeSpan Wait, bool Reserved, long Earliest, long Latest, long Deadline, DateTime At)
{
    /// <summary>How long the slot statement took, asked to answered.</summary>
    public TimeSpan RoundTrip { get; init; }

    /// <summary>The grant's id when the slot is the caller's: what it is confirmed and given back by (slots are not unique).</summary>
    public long? Grant { get; init; }

    /// <summary>This worker's hold on the grant: when a slot statement last read it, and whether it was withdrawn.</summary>
    internal SlotHold? Hold { get; init; }
}

/// <summary>Why a slot is sent or not (<see cref="RateBudget.AwaitSlotAsync"/>).</summary>
public enum SlotVerdict
{
    /// <summary>Send the request now, by <see cref="BudgetSlot.Deadline"/>.</summary>
    Send,

    /// <summary>Woken past the grant's end.</summary>
    Late,

    /// <summary>Woken in time, but the request could not leave by the grant's end (a connection to open, a busy thread).</summary>
    LateAtSend,

    /// <summary>A pause the upstream asked for withdrew the grant.</summary>
    Withdrawn,

    /// <summary>This worker heard of a pause that covers the slot.</summary>
    Paused,
}

/// <summary>A grant this worker holds: when a slot statement last found it there (<see cref="Stopwatch"/>), or that it is gone.</summary>
internal sealed class SlotHold(long grant, long latest, long confirmedAt)
{
    private long _confirmedAt = confirmedAt;
    private volatile bool _withdrawn;

    public long Grant => grant;

    public long Latest => latest;

    public long ConfirmedAt => Volatile.Read(ref _confirmedAt);

    public bool Withdrawn => _withdrawn;

    public void Read(bool withdrawn, long readAt)
    {
        if (withdrawn)
        {
            _withdrawn = true;
            return;
        }

        // Answers may come back out of order: keep the newest reading.
        long known;
        while ((known = Volatile.Read(ref _confirmedAt)) < readAt && Interlocked.CompareExchange(ref _confirmedAt, readAt, known) != known)
        {
        }
    }
}
