using System.Diagnostics;
using Ingestion.Platform.Database;
using Ingestion.Platform.Sources;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Syncs;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// A rate budget grant is an interval on a real PostgreSQL: from its slot to its end (the worker's uncertainty about
/// PostgreSQL's clock and its tolerance), stored with the grant, and the next window starts after the R-th latest end. The
/// whole tolerance lies after the slot's latest moment on the worker's clock; a request woken past the grant's end is let
/// go and given back by the budget itself. A worker
/// confirms a grant from what its slot statements read, and asks PostgreSQL only for a grant it has not read lately. A spent
/// Remaining pauses the key only when its own grants do not explain it.
/// </summary>
public sealed class When_a_budget_grant_is_an_interval
{
    private static readonly RateLimitPolicy TenASecond = new(10, 1);

    private Sandbox _sandbox = null!;
    private RateBudget _first = null!;
    private RateBudget _second = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await MigratedSandbox.CreateAsync("grants");
        _first = new RateBudget(_sandbox.Db);
        _second = new RateBudget(_sandbox.Db);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _first.Dispose();
        _second.Dispose();
        await _sandbox.DisposeAsync();
    }

    [Test]
    public async Task Should_store_each_grants_end_and_open_the_next_window_after_the_ends()
    {
        var key = "key-" + Guid.NewGuid();
        for (var i = 0; i < 14; i++)
        {
            Assert.That((await (i % 2 == 0 ? _first : _second).ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None)).Reserved,
                Is.True);
        }

        var grants = await GrantsAsync(key);
        Assert.That(grants, Has.Count.EqualTo(14));
        foreach (var (at, ends) in grants)
        {
            Assert.That(ends - at, Is.GreaterThanOrEqualTo(RateBudget.MinTolerance), "a grant lasts at least its tolerance after its slot");
        }

        for (var i = 10; i < grants.Count; i++)
        {
            var tenthLatestEnd = grants.Take(i).Select(g => g.Ends).OrderDescending().ElementAt(9);
            Assert.That(grants[i].At - tenthLatestEnd, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1) + RateBudget.Margin),
                "a slot lies a window and the margin after the tenth latest end: a request sent anywhere in its grant keeps ten a second");
        }
    }

    [Test]
    public async Task Should_give_a_whole_tolerance_after_the_slot_and_give_back_a_slot_woken_past_it()
    {
        var key = "key-" + Guid.NewGuid();
        var log = new PacingLog(TimeSpan.FromMilliseconds(100), TenASecond);

        // A worker that has not woken for slots yet gives its grants the first tolerance (12 ms), whole after the slot's
        // latest moment on its clock however loosely it knows PostgreSQL's: a wake-up up to then still sends.
        using var budget = new RateBudget(_sandbox.Db);
        var past = await budget.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        Assert.That(past.Deadline - past.Latest, Is.GreaterThanOrEqualTo(RateBudget.FirstTolerance.TotalSeconds * Stopwatch.Frequency * 0.99));

        // Woken after the grant's end: let go, and the budget gives the grant back itself.
        SpinUntil(past.Deadline + Stopwatch.Frequency / 1000);
        Assert.That(await budget.AwaitSlotAsync(key, past, log, CancellationToken.None), Is.EqualTo(SlotVerdict.Late));

        Assert.That(await GrantsAsync(key), Is.Empty, "the grant let go left the log");
        Assert.That(log.LetGoCount, Is.EqualTo(1));
    }

    [Test]
    public async Task Should_let_a_held_grant_go_when_a_later_grant_reads_it_withdrawn_without_asking_again()
    {
        var key = "key-" + Guid.NewGuid();
        BudgetSlot ahead = default;
        for (var i = 0; i < 5; i++)
        {
            ahead = await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        }

        // Another worker meets a 429 with Retry-After: 1: the key's grants still to come are withdrawn.
        var now = DateTimeOffset.UtcNow;
        await _second.ObserveAsync(key, [TenASecond], new RateSignal(null, null, null, null, now.AddSeconds(1)), now, refused: true, CancellationToken.None);

        // The first worker's next slot statement reads its held grants: the one ahead is gone.
        await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        var log = new PacingLog(TimeSpan.FromMilliseconds(100), TenASecond);

        Assert.That(await _first.AwaitSlotAsync(key, ahead, log, CancellationToken.None), Is.EqualTo(SlotVerdict.Withdrawn));
        Assert.That(log.Confirmations, Is.Zero, "the slot statement had read it: no query of its own");
    }

    [Test]
    public async Task Should_send_a_grant_read_lately_without_a_query_of_its_own()
    {
        // The first slot of an idle key lies a round trip ahead: the statement that gave it read it just before. A busy
        // machine may wake its waiter past the grant's first tolerance (12 ms), which is the Late verdict of the test above:
        // a few keys, until one wakes within its grant; none may ever ask again.
        var verdicts = new List<SlotVerdict>();
        var log = new PacingLog(TimeSpan.FromMilliseconds(100), TenASecond);
        for (var attempt = 0; attempt < 5 && !verdicts.Contains(SlotVerdict.Send); attempt++)
        {
            var key = "key-" + Guid.NewGuid();
            var slot = await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
            verdicts.Add(await _first.AwaitSlotAsync(key, slot, log, CancellationToken.None));
        }

        Assert.That(verdicts, Does.Contain(SlotVerdict.Send));
        Assert.That(verdicts, Is.All.EqualTo(SlotVerdict.Send).Or.EqualTo(SlotVerdict.Late), "nothing withdrew these grants");
        Assert.That(log.Confirmations, Is.Zero);
    }

    [Test]
    public async Task Should_not_pause_for_a_spent_remaining_its_own_grants_explain_but_for_one_they_do_not()
    {
        // Ten grants taken at the policy's pace: the upstream's "none left, all back in a second" is the budget's own doing.
        var key = "key-" + Guid.NewGuid();
        for (var i = 0; i < 10; i++)
        {
            await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        }

        // As if they had all gone: the latest 30 ms ago.
        await _sandbox.ExecuteAsync("""
            update ingestion.rate_grants g set at = g.at - d.shift, ends = g.ends - d.shift
            from (select max(at) - clock_timestamp() + interval '30 milliseconds' as shift from ingestion.rate_grants where budget_key = @key) d
            where g.budget_key = @key
            """, ("key", key));
        var now = DateTimeOffset.UtcNow;
        var spent = new RateSignal(10, 0, now.AddSeconds(1), null, null);
        await _second.ObserveAsync(key, [TenASecond], spent, now, refused: false, CancellationToken.None);

        Assert.That(await GrantsAsync(key), Has.Count.EqualTo(10), "no grant withdrawn");
        Assert.That((await _second.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None)).Wait, Is.LessThan(TimeSpan.FromSeconds(0.5)),
            "the next slot follows the log, not a pause");

        // The same answer on a key the budget sent nothing on: another client spent the limit, and every worker pauses.
        var other = "key-" + Guid.NewGuid();
        await _second.ObserveAsync(other, [TenASecond], spent, now, refused: false, CancellationToken.None);
        var next = await _first.ReserveAsync(other, [TenASecond], RateBudget.Lead, CancellationToken.None);
        Assert.That(next.Wait, Is.GreaterThan(TimeSpan.FromSeconds(0.5)), "the pause the upstream asked for holds");
    }

    [Test]
    public async Task Should_judge_a_slow_answer_by_the_grants_the_upstream_counted_before_its_slot()
    {
        // Ten grants a tenth of a second apart, the latest sent 400 ms ago; its answer (none left, all back in a second)
        // arrives only now. The upstream counted the ten; the six oldest have ended more than a window and the margin ago.
        var key = "key-" + Guid.NewGuid();
        await PastGrants.WriteTenAsync(_sandbox, key, TimeSpan.FromMilliseconds(1300), TimeSpan.FromMilliseconds(100));
        var slot = await _sandbox.ScalarAsync<DateTime>("select max(at) from ingestion.rate_grants where budget_key = @key", ("key", key));

        // Meanwhile another partition takes its next slot: the statement that forgets old grants keeps those a late answer needs.
        Assert.That((await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None)).Reserved, Is.True);
        Assert.That(await GrantsAsync(key), Has.Count.EqualTo(11));
        var now = DateTimeOffset.UtcNow;
        var spent = new RateSignal(10, 0, now.AddSeconds(1), null, null);

        Assert.That(await _second.ObserveAsync(key, [TenASecond], spent, now, refused: false, slot, CancellationToken.None), Is.False,
            "judged at the request's slot, its own ten grants explain it");
        Assert.That((await _second.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None)).Wait,
            Is.LessThan(TimeSpan.FromSeconds(0.5)), "the next slot follows the log, not a pause");

        // Judged at its arrival instead, the answer looks like another client's doing, and pauses every worker.
        var other = "key-" + Guid.NewGuid();
        await _sandbox.ExecuteAsync("update ingestion.rate_grants set budget_key = @other where budget_key = @key and at <= @slot",
            ("other", other), ("key", key), ("slot", slot));
        Assert.That(await _second.ObserveAsync(other, [TenASecond], spent, now, refused: false, CancellationToken.None), Is.True);
    }

    [Test]
    public async Task Should_not_withdraw_grants_for_a_pause_that_has_already_ended()
    {
        // An epoch Reset whose second passed before the headers were read (GitHub's style, a slow answer): no pause at all,
        // so the grants ahead stay, though five grants do not explain the spent Remaining.
        var key = "key-" + Guid.NewGuid();
        for (var i = 0; i < 5; i++)
        {
            await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        }

        var now = DateTimeOffset.UtcNow;
        var elapsed = new RateSignal(10, 0, now.AddSeconds(-1), null, null);

        Assert.That(await _second.ObserveAsync(key, [TenASecond], elapsed, now, refused: false, CancellationToken.None), Is.False);
        Assert.That(await GrantsAsync(key), Has.Count.EqualTo(5), "no grant withdrawn for a pause that lasts nothing");
    }

    [Test]
    public async Task Should_pause_for_a_429_with_a_spent_remaining_even_when_its_own_grants_would_explain_it()
    {
        // The same full log as above, but the upstream refused the request (429, Remaining 0, Reset, no Retry-After): it
        // counted more than the budget let through, and its Reset holds every worker.
        var key = "key-" + Guid.NewGuid();
        for (var i = 0; i < 10; i++)
        {
            await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        }

        await _sandbox.ExecuteAsync("""
            update ingestion.rate_grants g set at = g.at - d.shift, ends = g.ends - d.shift
            from (select max(at) - clock_timestamp() + interval '30 milliseconds' as shift from ingestion.rate_grants where budget_key = @key) d
            where g.budget_key = @key
            """, ("key", key));
        var now = DateTimeOffset.UtcNow;
        await _second.ObserveAsync(key, [TenASecond], new RateSignal(10, 0, now.AddSeconds(1), null, null), now, refused: true, CancellationToken.None);

        var next = await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None);
        Assert.That(next.Wait, Is.GreaterThan(TimeSpan.FromSeconds(0.5)), "a 429's Reset is a pause, whatever the log holds");
    }

    [Test]
    public async Task Should_give_back_only_its_own_grant_when_another_shares_its_slot()
    {
        // After a pause, a policy too fast to pace (a thousand a second) places every grant at the pause's end: two workers
        // hold the same slot, and each grant is still its own.
        var key = "key-" + Guid.NewGuid();
        var thousand = new RateLimitPolicy(1000, 1);
        var now = DateTimeOffset.UtcNow;
        await _second.ObserveAsync(key, [thousand], new RateSignal(null, null, null, null, now.AddSeconds(0.5)), now, refused: true, CancellationToken.None);
        var mine = await _first.ReserveAsync(key, [thousand], RateBudget.Lead, CancellationToken.None);
        var theirs = await _second.ReserveAsync(key, [thousand], RateBudget.Lead, CancellationToken.None);
        Assert.That(mine.Reserved && theirs.Reserved && mine.At == theirs.At, Is.True, $"both at the pause's end: {mine.At:O}, {theirs.At:O}");

        // The other worker lets its slot go: its grant leaves, mine stays, and mine is sent.
        await _second.ReleaseAsync(key, theirs, CancellationToken.None);
        Assert.That(await GrantIdsAsync(key), Is.EqualTo(new[] { mine.Grant!.Value }));
        Assert.That(await _first.AwaitSlotAsync(key, mine, null, CancellationToken.None), Is.EqualTo(SlotVerdict.Send));
    }

    [Test]
    public async Task Should_keep_counting_a_grant_its_holder_sends_into_a_pause()
    {
        // Three slots a tenth of a second apart; the second lies within ConfirmWithin of the statement that read it.
        var key = "key-" + Guid.NewGuid();
        var slots = new List<BudgetSlot>();
        for (var i = 0; i < 3; i++)
        {
            slots.Add(await _first.ReserveAsync(key, [TenASecond], RateBudget.Lead, CancellationToken.None));
        }

        // Another worker meets a 429 just before the second slot, which its holder read as there moments ago: it goes anyway.
        var now = DateTimeOffset.UtcNow;
        await _second.ObserveAsync(key, [TenASecond], new RateSignal(null, null, null, null, now.AddSeconds(1)), now, refused: true, CancellationToken.None);
        var verdicts = new List<SlotVerdict>();
        foreach (var slot in slots)
        {
            verdicts.Add(await _first.AwaitSlotAsync(key, slot, null, CancellationToken.None));
        }

        Assert.That(verdicts[1], Is.EqualTo(SlotVerdict.Send), string.Join(", ", verdicts));

        // The requests that went stay in the log (the window counts them, withdrawn or not); the slots let go left it.
        var sent = slots.Where((_, i) => verdicts[i] == SlotVerdict.Send).Select(s => s.Grant!.Value);
        Assert.That(await GrantIdsAsync(key), Is.EqualTo(sent), "a request sent into the pause stays in the log");
    }

    private async Task<List<long>> GrantIdsAsync(string key)
    {
        var ids = new List<long>();
        await using var command = _sandbox.Db.CreateCommand("select id from ingestion.rate_grants where budget_key = @key order by id");
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    private static void SpinUntil(long timestamp)
    {
        while (Stopwatch.GetTimestamp() < timestamp)
        {
            Thread.SpinWait(50);
        }
    }

    private async Task<List<(DateTime At, DateTime Ends)>> GrantsAsync(string key)
    {
        var grants = new List<(DateTime, DateTime)>();
        await using var command = _sandbox.Db.CreateCommand("select at, ends from ingestion.rate_grants where budget_key = @key order by at");
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            grants.Add((reader.GetDateTime(0), reader.GetDateTime(1)));
        }

        return grants;
    }
}
