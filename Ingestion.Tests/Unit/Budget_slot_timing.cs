using System.Diagnostics;
using Ingestion.Workers.Syncs;

namespace Ingestion.Tests.Unit;

/// <summary>
/// Where a budget slot, given on PostgreSQL's clock, falls on a worker's monotonic clock
/// (<see cref="DatabaseClock"/>), and the thread that wakes its waiter (<see cref="SlotClock"/>).
/// </summary>
public sealed class Budget_slot_timing
{
    private static readonly DateTime DatabaseNow = new(2026, 12, 4, 23, 0, 0, DateTimeKind.Utc);

    [Test]
    public void Should_place_a_slot_within_half_the_round_trip_of_the_answer()
    {
        var clock = new DatabaseClock();
        var asked = Stopwatch.GetTimestamp();
        var answered = asked + Ms(2);

        var (earliest, latest) = clock.Place(DatabaseNow.AddMilliseconds(500), DatabaseNow, asked, answered);

        Assert.That(Stopwatch.GetElapsedTime(asked, earliest).TotalMilliseconds, Is.EqualTo(500).Within(0.01));
        Assert.That(Stopwatch.GetElapsedTime(asked, latest).TotalMilliseconds, Is.EqualTo(502).Within(0.01));
    }

    [Test]
    public void Should_place_a_slot_of_a_slow_answer_by_an_earlier_quick_one()
    {
        var clock = new DatabaseClock();
        var asked = Stopwatch.GetTimestamp();
        clock.Place(DatabaseNow, DatabaseNow, asked, asked + Ms(1));

        // A second later the database takes 80 ms to answer; its clock read 1.001 s after the first one's.
        var slow = asked + Ms(1000);
        var (earliest, latest) = clock.Place(DatabaseNow.AddMilliseconds(1101), DatabaseNow.AddMilliseconds(1001), slow, slow + Ms(80));

        var width = Stopwatch.GetElapsedTime(earliest, latest).TotalMilliseconds;
        Assert.That(width, Is.LessThan(1.5), "bounded by the quick reading (and its age), not the slow round trip");
        Assert.That(Stopwatch.GetElapsedTime(asked, earliest).TotalMilliseconds, Is.EqualTo(1100.5).Within(0.5));
    }

    [Test]
    public async Task Should_wake_waiters_in_the_order_of_their_slots_not_of_their_asking()
    {
        using var clock = new SlotClock();
        var now = Stopwatch.GetTimestamp();
        var order = new List<int>();
        var later = clock.WaitUntilAsync(now + Ms(60), CancellationToken.None).ContinueWith(_ => { lock (order) { order.Add(2); } },
            TaskScheduler.Default);
        var sooner = clock.WaitUntilAsync(now + Ms(20), CancellationToken.None).ContinueWith(_ => { lock (order) { order.Add(1); } },
            TaskScheduler.Default);

        await Task.WhenAll(later, sooner);

        Assert.That(order, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(Stopwatch.GetElapsedTime(now).TotalMilliseconds, Is.GreaterThanOrEqualTo(60), "not before its slot");
    }

    [Test]
    public void Should_end_a_cancelled_wait_at_once()
    {
        using var clock = new SlotClock();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(20));

        var wait = clock.WaitUntilAsync(Stopwatch.GetTimestamp() + Ms(60_000), cancel.Token);

        Assert.That(async () => await wait, Throws.InstanceOf<OperationCanceledException>());
    }

    private static long Ms(double milliseconds) => (long)(milliseconds * Stopwatch.Frequency / 1000);
}
