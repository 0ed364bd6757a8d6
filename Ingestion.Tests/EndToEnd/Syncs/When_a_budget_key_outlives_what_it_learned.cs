using Ingestion.Platform.Database;
using Ingestion.Platform.Sources;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Syncs;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// The shared rate budget on a real PostgreSQL (a database of its own, no hosts): what a budget key
/// remembers, a policy another source declared or a limit the upstream said, lapses once nobody has
/// said it for its window and the lapse margin; and a block the upstream asked for lasts as long as
/// it asked, measured on PostgreSQL's clock whatever the worker's clock says.
/// </summary>
public sealed class When_a_budget_key_outlives_what_it_learned
{
    private static readonly RateLimitPolicy Generous = new(1000, 1);

    private Sandbox _sandbox = null!;
    private RateBudget _budget = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await Sandbox.CreateAsync(TestRun.Servers, "budget_" + Guid.NewGuid().ToString("N")[..8]);
        await new DatabaseMigrator(_sandbox.Db, [], NullLogger<DatabaseMigrator>.Instance).StartAsync(CancellationToken.None);
        _budget = new RateBudget(_sandbox.Db);
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _sandbox.DisposeAsync();

    [Test]
    public async Task Should_stop_judging_by_a_policy_nobody_declares_any_more()
    {
        var key = "key-" + Guid.NewGuid();

        // A source allowed one request a second takes it; another source on the same credential is held to that too.
        Assert.That(await _budget.TryTakeAsync(key, [new RateLimitPolicy(1, 1)], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.GreaterThan(TimeSpan.Zero));

        // The first source is deleted (or re-declared): nobody declares its policy any more, for longer than its window and the margin.
        await _sandbox.ExecuteAsync(
            "update ingestion.rate_policies set declared_at = declared_at - @ago where budget_key = @key and requests = 1",
            ("ago", RateBudget.Lapse + TimeSpan.FromSeconds(2)), ("key", key));

        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero),
            "judged by the policies still declared");
        Assert.That(await _sandbox.ScalarAsync<long>("select count(*) from ingestion.rate_policies where budget_key = @key and requests = 1",
            ("key", key)), Is.Zero, "the lapsed policy is forgotten");
    }

    [Test]
    public async Task Should_keep_a_learned_limit_while_the_upstream_says_it_and_let_it_lapse_after()
    {
        var key = "key-" + Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        await _budget.ObserveAsync(key, [Generous], new RateSignal(1, 5, null, 1, null), now, CancellationToken.None);

        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero));
        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.GreaterThan(TimeSpan.Zero),
            "the learned one request a second holds");

        await _sandbox.ExecuteAsync("update ingestion.rate_budgets set learned_at = learned_at - @ago where budget_key = @key",
            ("ago", RateBudget.Lapse + TimeSpan.FromSeconds(2)), ("key", key));

        Assert.That(await _budget.TryTakeAsync(key, [Generous], CancellationToken.None), Is.EqualTo(TimeSpan.Zero),
            "not said for its window and the margin: lapsed");
    }

    [Test]
    public async Task Should_block_for_as_long_as_the_upstream_asked_whatever_the_workers_clock_says()
    {
        var key = "key-" + Guid.NewGuid();

        // A worker whose clock is an hour behind reads "Retry-After: 3".
        var skewed = DateTimeOffset.UtcNow.AddHours(-1);
        await _budget.ObserveAsync(key, [Generous], new RateSignal(null, null, null, null, skewed.AddSeconds(3)), skewed, CancellationToken.None);

        var wait = await _budget.TryTakeAsync(key, [Generous], CancellationToken.None);
        Assert.That(wait, Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)), "three seconds from when it was said, on one clock");
    }
}
