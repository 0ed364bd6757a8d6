using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Protection;

/// <summary>
/// A tenant may create 3 jobs an hour here. The fourth is refused with 429 and a
/// Retry-After, before its body is read, without leaving a job or an object; another
/// tenant goes on, and a replayed request still finds its job.
/// </summary>
public sealed class When_a_tenant_creates_jobs_too_fast
{
    private readonly TestCsv _csv = new();
    private Deployment _stack = null!;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private readonly List<Guid> _accepted = [];
    private HttpResponseMessage _refused = null!;
    private JsonNode _problem = null!;
    private string _announcedBody = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _stack = await Deployment.StartAsync(TestRun.Servers, "ratelimit", new Dictionary<string, string>
        {
            ["Limits__JobsPerHour"] = "3",
        });
        _acme = _stack.Client(Keys.Acme);
        _globex = _stack.Client(Keys.Globex);

        using (var first = await _acme.UploadCsvAsync("transactions", _csv.Transactions(3), idempotencyKey: "rate-first"))
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await first.Content.ReadAsStringAsync());
            _accepted.Add((await first.Content.ReadFromJsonAsync<JsonNode>())!["jobId"]!.GetValue<Guid>());
        }

        _accepted.Add(await _acme.StartUploadAsync("transactions", _csv.Transactions(3)));
        _accepted.Add(await StatementAsync(_acme, HttpStatusCode.Accepted));

        _refused = await _acme.UploadCsvAsync("transactions", _csv.Transactions(2));
        _problem = await _refused.ProblemAsync();
        _announcedBody = await AnnounceTwoGigabytesAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _refused.Dispose();
        _acme.Dispose();
        _globex.Dispose();
        await _stack.DisposeAsync();
    }

    [Test]
    public void Should_refuse_the_fourth_job_with_429_and_say_the_limit()
    {
        Assert.That(_refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), _problem.ToJsonString());
        Assert.That(_problem["detail"]!.GetValue<string>(), Does.Contain("3 jobs per hour"));
        Assert.That(_problem["jobsPerHour"]!.GetValue<int>(), Is.EqualTo(3));
    }

    [Test]
    public void Should_say_when_to_retry_in_seconds_within_the_hour()
    {
        var retryAfter = _refused.Headers.RetryAfter?.Delta;
        Assert.That(retryAfter, Is.Not.Null, "Retry-After in seconds");
        Assert.That(retryAfter!.Value.TotalSeconds, Is.InRange(1, 3600));
        // The oldest job is seconds old, so the next place frees up close to an hour from now.
        Assert.That(retryAfter.Value.TotalSeconds, Is.GreaterThan(3300));
        Assert.That(_problem["retryAfterSeconds"]!.GetValue<long>(), Is.EqualTo((long)retryAfter.Value.TotalSeconds));
    }

    [Test]
    public void Should_refuse_before_reading_the_body()
    {
        Assert.That(_announcedBody, Does.StartWith("HTTP/1.1 429"), "answered without a byte of the announced 2 GiB");
        Assert.That(_announcedBody, Does.Match(@"(?im)^retry-after: \d+\r$"));
    }

    [Test]
    public async Task Should_create_no_job_and_keep_no_object()
    {
        var listed = await _acme.GetJsonAsync("/v1/jobs");
        var ids = listed["items"]!.AsArray().Select(j => j!["jobId"]!.GetValue<Guid>()).ToList();
        Assert.That(ids, Is.EquivalentTo(_accepted));

        var keys = await _stack.Sandbox.ObjectKeysAsync("uploads/acme/");
        var known = _accepted.Select(id => $"uploads/acme/{id:N}.csv").ToList();
        Assert.That(keys, Is.SubsetOf(known), "only the accepted jobs' uploads");
    }

    [Test]
    public async Task Should_refuse_a_statement_too_since_jobs_of_every_kind_count() =>
        await StatementAsync(_acme, HttpStatusCode.TooManyRequests);

    [Test]
    public async Task Should_let_another_tenant_create_jobs()
    {
        var job = await _globex.StartUploadAsync("transactions", _csv.Transactions(3));
        var ended = await _globex.WaitForJobEndAsync(job);
        Assert.That(ended["status"]!.GetValue<string>(), Is.EqualTo("completed"), ended.ToJsonString());
    }

    [Test]
    public async Task Should_answer_a_replayed_request_with_its_job_not_429()
    {
        using var replay = await _acme.UploadCsvAsync("transactions", _csv.Transactions(3), idempotencyKey: "rate-first");
        Assert.That(replay.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await replay.Content.ReadAsStringAsync());
        Assert.That(replay.Headers.GetValues("Idempotent-Replayed"), Is.EqualTo(new[] { "true" }));
        Assert.That((await replay.Content.ReadFromJsonAsync<JsonNode>())!["jobId"]!.GetValue<Guid>(), Is.EqualTo(_accepted[0]));
    }

    /// <summary>
    /// Announces a 2 GiB body, sends its first line, and reads what the API answers: it must not
    /// wait for the rest. (HttpClient cannot show this: it finishes sending before it reads.)
    /// </summary>
    private async Task<string> AnnounceTwoGigabytesAsync()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(_stack.Api.Url.Host, _stack.Api.Url.Port);
        var stream = tcp.GetStream();
        var head = $"POST /v1/datasets/transactions/uploads HTTP/1.1\r\nHost: {_stack.Api.Url.Authority}\r\nX-Api-Key: {Keys.Acme}\r\n"
                   + $"Content-Type: text/csv\r\nContent-Length: {2L << 30}\r\n\r\n{TestCsv.Header}\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer, timeout.Token);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }

    private static async Task<Guid> StatementAsync(HttpClient client, HttpStatusCode expected)
    {
        using var response = await client.PostAsJsonAsync("/v1/statements", new { accountId = 42, from = "2026-01-01", to = "2026-01-31" });
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(expected), body);
        if (expected == HttpStatusCode.TooManyRequests)
        {
            Assert.That(response.Headers.RetryAfter?.Delta, Is.Not.Null);
            return Guid.Empty;
        }

        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }
}
