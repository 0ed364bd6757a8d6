using System.Net;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Progress;

/// <summary>
/// A frontend watches an upload job through <c>/stream</c> (Server-Sent Events), reconnects
/// with <c>Last-Event-ID</c>, or polls with <c>If-None-Match</c>. The job's audit trail is
/// the reference for which states it went through.
/// </summary>
public sealed class When_a_job_is_watched_live
{
    private const int Rows = 12_000;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private string _dataset = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);

        // 24 batches of 500 rows at 100 ms each: a job of a few seconds.
        _dataset = await SlowDataset.CreateAsync(_acme, "acme", millisecondsPerBatch: 100);
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
    }

    [Test]
    public async Task Should_stream_every_state_in_order_with_progress_and_end_with_the_final_one()
    {
        var jobId = await _acme.StartUploadAsync(_dataset, NextRows(Rows));
        await using var stream = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream");
        Assert.That(stream.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(stream.ContentType, Is.EqualTo("text/event-stream"));

        var events = await stream.ToEndAsync(TimeSpan.FromSeconds(60));

        Assert.That(events, Is.Not.Empty);
        Assert.That(events.Select(e => e.Version), Is.Ordered.Ascending.And.Unique, "ids are the job's versions, each sent once");
        Assert.That(events[^1].Status, Is.EqualTo("completed"), "the stream ends with the final state");
        Assert.That(events[^1].Data["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows), Describe(events));
        var progress = events.Where(e => e.Name == "progress").ToList();
        Assert.That(progress, Has.Count.GreaterThanOrEqualTo(3), "progress arrives while the rows load");
        Assert.That(progress.Select(e => e.Data["progress"]!["rowsLoaded"]!.GetValue<long>()), Is.Ordered.Ascending);

        // Every state the job went through after the client connected is in the stream, in order.
        var transitions = await TransitionsAsync(jobId);
        var states = events.Where(e => e.Name == "state").Select(e => e.Status).ToList();
        Assert.That(states, Is.EqualTo(transitions.Skip(transitions.IndexOf(states[0])).ToList()),
            $"states streamed: {string.Join(", ", states)}; transitions: {string.Join(", ", transitions)}");
        Assert.That(states, Does.Contain("processing").And.Contain("completed"));
    }

    [Test]
    public async Task Should_stream_live_from_any_api_instance()
    {
        // A second API instance of the same deployment: it never saw the upload, only the bus.
        await using var other = await HostProcess.StartAsync("Ingestion.Api", "shared-api2", TestRun.Shared.Settings);
        using var otherClient = new HttpClient { BaseAddress = other.Url };
        otherClient.DefaultRequestHeaders.Add("X-Api-Key", Keys.Acme);

        var jobId = await _acme.StartUploadAsync(_dataset, NextRows(Rows));
        await using var here = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream");
        await using var there = await EventSourceClient.OpenAsync(otherClient, $"/v1/jobs/{jobId}/stream");
        var streams = await Task.WhenAll(here.ToEndAsync(TimeSpan.FromSeconds(60)), there.ToEndAsync(TimeSpan.FromSeconds(60)));

        foreach (var events in streams)
        {
            Assert.That(events[^1].Status, Is.EqualTo("completed"), Describe(events));
            Assert.That(events.Count(e => e.Name == "progress"), Is.GreaterThanOrEqualTo(3), "live progress, not only the end");
        }
    }

    [Test]
    public async Task Should_resume_after_a_reconnect_with_last_event_id_and_miss_nothing()
    {
        var jobId = await _acme.StartUploadAsync(_dataset, NextRows(Rows));
        var seen = new List<ServerEvent>();
        await using (var first = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream"))
        {
            while (await first.NextAsync() is { } next)
            {
                seen.Add(next);
                if (next.Name == "progress")
                {
                    break;
                }
            }
        }

        // Away long enough for the job to move on, then back where the client left off.
        await Task.Delay(1500);
        var lastId = seen[^1].Id!;
        await using (var second = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream", lastId))
        {
            var rest = await second.ToEndAsync(TimeSpan.FromSeconds(60));
            Assert.That(rest, Is.Not.Empty);
            Assert.That(rest[0].Version, Is.GreaterThan(int.Parse(lastId, System.Globalization.CultureInfo.InvariantCulture)),
                "nothing before Last-Event-ID is sent again");
            seen.AddRange(rest);
        }

        Assert.That(seen.Select(e => e.Version), Is.Ordered.Ascending.And.Unique);
        Assert.That(seen[^1].Status, Is.EqualTo("completed"));
        var transitions = await TransitionsAsync(jobId);
        var statuses = seen.Select(e => e.Status).Distinct().ToList();
        Assert.That(statuses, Is.EqualTo(transitions.Skip(transitions.IndexOf(statuses[0])).ToList()),
            "every state from the first one seen to the last, across the reconnect");

        // A client that had everything is told to stop reconnecting.
        await using var done = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream", seen[^1].Id);
        Assert.That(done.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
    }

    [Test]
    public async Task Should_replay_the_whole_history_to_a_client_that_asks_from_the_start()
    {
        var jobId = await _acme.StartUploadAsync(_dataset, NextRows(500));
        await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");

        await using var stream = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream", lastEventId: "0");
        var events = await stream.ToEndAsync(TimeSpan.FromSeconds(30));

        Assert.That(events.Where(e => e.Name == "state").Select(e => e.Status), Is.EqualTo(await TransitionsAsync(jobId)));
    }

    [Test]
    public async Task Should_refuse_another_tenant_and_a_malformed_last_event_id()
    {
        var jobId = await _acme.StartUploadAsync(_dataset, NextRows(10));

        await using var foreign = await EventSourceClient.OpenAsync(_globex, $"/v1/jobs/{jobId}/stream");
        Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));

        await using var malformed = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream", "yesterday");
        Assert.That(malformed.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [Test]
    public async Task Should_answer_304_to_a_poller_until_the_job_changes_and_suggest_when_to_ask_again()
    {
        var jobId = await _acme.StartUploadAsync(_dataset, NextRows(Rows));
        using var first = await _acme.GetAsync($"/v1/jobs/{jobId}");
        var etag = first.Headers.ETag;
        Assert.That(etag, Is.Not.Null);
        Assert.That(etag!.IsWeak, Is.True);
        Assert.That(first.Headers.RetryAfter?.Delta, Is.GreaterThan(TimeSpan.Zero), "a running job suggests when to poll again");

        using var same = new HttpRequestMessage(HttpMethod.Get, $"/v1/jobs/{jobId}");
        same.Headers.IfNoneMatch.Add(etag);
        using var notModified = await _acme.SendAsync(same);
        if (notModified.StatusCode == HttpStatusCode.NotModified)
        {
            Assert.That(await notModified.Content.ReadAsByteArrayAsync(), Is.Empty);
            Assert.That(notModified.Headers.ETag, Is.EqualTo(etag));
        }
        else
        {
            // The job moved between the two requests: then the answer is the new job with a new tag.
            Assert.That(notModified.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(notModified.Headers.ETag, Is.Not.EqualTo(etag));
        }

        var done = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");
        using var stale = new HttpRequestMessage(HttpMethod.Get, $"/v1/jobs/{jobId}");
        stale.Headers.IfNoneMatch.Add(etag);
        using var changed = await _acme.SendAsync(stale);
        Assert.That(changed.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the job changed since that tag");
        Assert.That(changed.Headers.ETag, Is.Not.EqualTo(etag));
        Assert.That(changed.Headers.RetryAfter, Is.Null, "a finished job has nothing to wait for");
        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("completed"));

        using var final = new HttpRequestMessage(HttpMethod.Get, $"/v1/jobs/{jobId}");
        final.Headers.IfNoneMatch.Add(changed.Headers.ETag!);
        using var unchanged = await _acme.SendAsync(final);
        Assert.That(unchanged.StatusCode, Is.EqualTo(HttpStatusCode.NotModified));
    }

    private int _nextEntry = 1;

    private byte[] NextRows(int count) => SlowDataset.Rows(count, Interlocked.Add(ref _nextEntry, count) - count);

    private static string Describe(IEnumerable<ServerEvent> events) =>
        string.Join("\n", events.Select(e => $"{e.Id} {e.Name} {e.Data.ToJsonString()}"));

    /// <summary>The states the job entered, in order, from its audit trail.</summary>
    private async Task<List<string>> TransitionsAsync(Guid jobId)
    {
        var history = await _acme.GetJsonAsync($"/v1/jobs/{jobId}/history");
        return history["events"]!.AsArray()
            .Where(e => e!["type"]!.GetValue<string>() == "transition")
            .Select(e => e!["to"]!.GetValue<string>().ToLowerInvariant())
            .ToList();
    }
}
