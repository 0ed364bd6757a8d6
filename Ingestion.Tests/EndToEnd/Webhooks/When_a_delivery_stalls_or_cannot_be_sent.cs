using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Webhooks;

/// <summary>
/// One worker sending webhooks when things go wrong for one of them: a receiver that holds its
/// request for 20 s must not hold up another job's webhook to a receiver that answers at once,
/// and a delivery that fails before anything is sent is an attempt like any other (recorded,
/// retried, given up after the configured retries), not a delivery claimed again and again.
/// </summary>
public sealed class When_a_delivery_stalls_or_cannot_be_sent
{
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(20);

    private Deployment _deployment = null!;
    private WebhookReceiver _receiver = null!;
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _receiver = new WebhookReceiver();
        _deployment = await Deployment.StartAsync(TestRun.Servers, "webhook_faults", new Dictionary<string, string>
        {
            ["Webhooks__AllowedHosts__0"] = "localhost",
            ["Webhooks__Backoff__0"] = "00:00:01",
            ["Webhooks__Backoff__1"] = "00:00:01",
            // Longer than the stall, so that the slow receiver is waited for rather than timed out.
            ["Webhooks__Timeout"] = "00:00:30",
        });
        _acme = _deployment.Client(Keys.Acme);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        await _deployment.DisposeAsync();
        _receiver.Dispose();
    }

    [Test]
    public async Task Should_not_delay_another_jobs_webhook_while_a_receiver_stalls()
    {
        _receiver.Stall("slow", Stall);
        await UploadAsync(_receiver.Url("slow"));
        await _receiver.WaitForAsync("slow", 1, TimeSpan.FromSeconds(30));
        var stalledFor = Stopwatch.StartNew();

        var fast = await UploadAsync(_receiver.Url("fast"));
        await _acme.WaitForJobEndAsync(fast);
        var ended = DateTimeOffset.UtcNow;
        var request = (await _receiver.WaitForAsync("fast", 1, Stall + TimeSpan.FromSeconds(10))).Single();

        Assert.That(request.At - ended, Is.LessThan(TimeSpan.FromSeconds(5)),
            $"the fast receiver's webhook came {(request.At - ended).TotalSeconds:0.0} s after its job ended, while the slow one was held");
        Assert.That(stalledFor.Elapsed, Is.LessThan(Stall), "the slow receiver was still holding its request");
    }

    [Test]
    public async Task Should_record_a_failure_before_sending_and_give_up_after_the_configured_retries()
    {
        // A payload the sender cannot turn into a body (written by some other version, say):
        // the attempt fails before a byte is sent.
        var jobId = await UploadAsync(callbackUrl: null);
        await _acme.WaitForJobEndAsync(jobId);
        var deliveryId = Guid.NewGuid();
        await _deployment.Sandbox.ExecuteAsync("""
            insert into ingestion.webhook_deliveries (id, job_id, tenant_id, url, payload)
            values (@id, @job, 'acme', @url, '{"jobId": 42}');
            notify ingestion_webhooks
            """, ("id", deliveryId), ("job", jobId), ("url", _receiver.Url("unbuildable")));

        var delivery = await WaitForDeliveryAsync(jobId, "gave_up", TimeSpan.FromSeconds(30));

        var history = delivery["history"]!.AsArray();
        Assert.That(history.Select(a => a!["attempt"]!.GetValue<int>()), Is.EqualTo(new[] { 1, 2, 3 }),
            "the first attempt and the two configured retries, each recorded");
        Assert.That(history.Select(a => a!["error"]!.GetValue<string>()),
            Has.All.Matches<string>(e => e.StartsWith("not sent:", StringComparison.Ordinal) && e.Contains("payload", StringComparison.Ordinal)));
        Assert.That(delivery["attempts"]!.GetValue<int>(), Is.EqualTo(3));
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.That(await _deployment.Sandbox.ScalarAsync<int>("select attempts from ingestion.webhook_deliveries where id = @id",
            ("id", deliveryId)), Is.EqualTo(3), "a delivery that gave up is not claimed again");
        Assert.That(_receiver.Received("unbuildable"), Is.Empty);
    }

    [Test]
    public async Task Should_give_up_when_the_last_attempts_worker_stopped_before_recording_it()
    {
        // As a worker killed during attempt 3 of 3 leaves it: claimed (attempts = 3), never recorded, its lease over.
        var jobId = await UploadAsync(callbackUrl: null);
        await _acme.WaitForJobEndAsync(jobId);
        await _deployment.Sandbox.ExecuteAsync("""
            insert into ingestion.webhook_deliveries (id, job_id, tenant_id, url, payload, attempts)
            values (@id, @job, 'acme', @url, '{}', 3);
            insert into ingestion.webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
            values (@id, 1, now(), 500, 'the receiver answered 500', 1), (@id, 2, now(), 500, 'the receiver answered 500', 1);
            notify ingestion_webhooks
            """, ("id", Guid.NewGuid()), ("job", jobId), ("url", _receiver.Url("interrupted")));

        var delivery = await WaitForDeliveryAsync(jobId, "gave_up", TimeSpan.FromSeconds(15));

        Assert.That(delivery["attempts"]!.GetValue<int>(), Is.EqualTo(3), "not tried a fourth time");
        Assert.That(delivery["history"]!.AsArray().Select(a => a!["error"]!.GetValue<string>()).Last(), Does.StartWith("no outcome"));
        Assert.That(_receiver.Received("interrupted"), Is.Empty);
    }

    private async Task<Guid> UploadAsync(string? callbackUrl)
    {
        using var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(new TestCsv().Transactions(2)) { Headers = { ContentType = new MediaTypeHeaderValue("text/csv") } },
                "file", "hooked.csv" },
        };
        if (callbackUrl is not null)
        {
            form.Add(new StringContent(callbackUrl), "callbackUrl");
        }

        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads", form);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }

    private async Task<JsonNode> WaitForDeliveryAsync(Guid jobId, string status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonNode webhooks;
        do
        {
            webhooks = await _acme.GetJsonAsync($"/v1/jobs/{jobId}/webhooks");
            if (webhooks["deliveries"]!.AsArray() is [{ } only] && only["status"]!.GetValue<string>() == status)
            {
                return only;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"Job {jobId}'s webhook did not reach {status} within {timeout}: {webhooks.ToJsonString()}");
        return null!;
    }
}
