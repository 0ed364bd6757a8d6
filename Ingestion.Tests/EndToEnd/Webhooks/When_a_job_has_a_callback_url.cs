using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Webhooks;

/// <summary>
/// Jobs with a callback URL on a receiver in this test (allow-listed as localhost in this
/// deployment, whose retries wait one second): the callback arrives signed, is retried until
/// the receiver takes it, gives up after the last retry, and never changes the job.
/// </summary>
public sealed class When_a_job_has_a_callback_url
{
    private const string AcmeSecret = "acme-webhook-secret-for-tests";
    private const string InitechKey = "test-initech-key-000000001";
    private static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    private Deployment _deployment = null!;
    private WebhookReceiver _receiver = null!;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private HttpClient _ops = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _receiver = new WebhookReceiver();
        _deployment = await Deployment.StartAsync(TestRun.Servers, "webhooks", new Dictionary<string, string>
        {
            ["Webhooks__AllowedHosts__0"] = "localhost",
            ["Webhooks__Backoff__0"] = "00:00:01",
            ["Webhooks__Backoff__1"] = "00:00:01",
            ["Tenancy__Tenants__2__Id"] = "initech",
            ["Tenancy__Tenants__2__ApiKeys__0"] = InitechKey,
        });
        _acme = _deployment.Client(Keys.Acme);
        _globex = _deployment.Client(Keys.Globex);
        _ops = _deployment.Client(Keys.Ops);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        _globex.Dispose();
        _ops.Dispose();
        await _deployment.DisposeAsync();
        _receiver.Dispose();
    }

    [Test]
    public async Task Should_post_a_signed_callback_when_an_upload_completes()
    {
        var jobId = await UploadAsync(_acme, Csv(5), _receiver.Url("completed"));
        var job = await _acme.WaitForJobEndAsync(jobId);
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"));

        var request = (await _receiver.WaitForAsync("completed", 1, TimeSpan.FromSeconds(20))).Single();
        Assert.That(request.Method, Is.EqualTo("POST"));
        Assert.That(request.ContentType, Does.StartWith("application/json"));
        Assert.That(request.Header("Ingestion-Attempt"), Is.EqualTo("1"));
        var timestamp = request.Header("Ingestion-Timestamp");
        var signature = request.Header("Ingestion-Signature");
        Assert.That(WebhookVerification.IsAuthentic(AcmeSecret, timestamp, signature, request.Body, Tolerance), Is.True,
            $"{signature} over {timestamp}.{Encoding.UTF8.GetString(request.Body)}");
        Assert.That(WebhookVerification.IsAuthentic("globex-webhook-secret-for-tests", timestamp, signature, request.Body, Tolerance),
            Is.False, "another tenant's secret does not verify it");
        Assert.That(WebhookVerification.IsAuthentic(AcmeSecret, timestamp, signature, [.. request.Body, (byte)' '], Tolerance), Is.False,
            "a changed body does not verify");
        Assert.That(await WebhookVerification.OpensslSignatureAsync(AcmeSecret, timestamp, request.Body), Is.EqualTo(signature),
            "README's openssl check agrees");
        Assert.That(WebhookVerification.IsStandardAuthentic(WebhookVerification.StandardSecret(AcmeSecret), request), Is.True,
            $"a stock Standard Webhooks verifier accepts {request.Header("webhook-signature")} ({request.Header("webhook-id")}, {request.Header("webhook-timestamp")})");
        Assert.That(WebhookVerification.IsStandardAuthentic(WebhookVerification.StandardSecret("globex-webhook-secret-for-tests"), request),
            Is.False, "nor with another tenant's secret");
        Assert.That(WebhookVerification.IsStandardAuthentic(WebhookVerification.StandardSecret(AcmeSecret), request, [.. request.Body, (byte)' ']),
            Is.False, "nor with a changed body");
        Assert.That(request.Header("webhook-id"), Is.EqualTo(request.Header("Ingestion-Delivery")));

        var body = JsonNode.Parse(request.Body)!;
        Assert.That(body["jobId"]!.GetValue<Guid>(), Is.EqualTo(jobId));
        Assert.That(body["kind"]!.GetValue<string>(), Is.EqualTo("upload"));
        Assert.That(body["status"]!.GetValue<string>(), Is.EqualTo("completed"));
        Assert.That(body["counts"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(5));
        Assert.That(body["counts"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        Assert.That(body["timestamp"]!.GetValue<DateTimeOffset>(), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(1)));
        Assert.That(body.AsObject().ContainsKey("error"), Is.False);

        var delivery = await WaitForDeliveryAsync(_acme, jobId, "delivered");
        Assert.That(delivery["deliveryId"]!.GetValue<Guid>(), Is.EqualTo(Guid.Parse(request.Header("Ingestion-Delivery"))));
        Assert.That(delivery["url"]!.GetValue<string>(), Is.EqualTo(_receiver.Url("completed")));
        Assert.That(Codes(delivery), Is.EqualTo(new int?[] { 200 }));
        Assert.That(delivery["nextAttemptAt"], Is.Null, "nothing more is due");
    }

    [Test]
    public async Task Should_deliver_on_the_third_attempt_when_the_receiver_fails_twice()
    {
        _receiver.Answer("flaky", 500, 503, 204);
        var jobId = await UploadAsync(_acme, Csv(3), _receiver.Url("flaky"));

        var requests = await _receiver.WaitForAsync("flaky", 3, TimeSpan.FromSeconds(30));
        Assert.That(requests.Select(r => r.Header("Ingestion-Attempt")), Is.EqualTo(new[] { "1", "2", "3" }));
        Assert.That(requests.Select(r => r.Header("Ingestion-Delivery")).Distinct().Count(), Is.EqualTo(1), "one delivery, retried");
        Assert.That(requests.Select(r => r.Header("webhook-id")).Distinct().Count(), Is.EqualTo(1), "receivers deduplicate on webhook-id");
        Assert.That(requests.All(r => WebhookVerification.IsStandardAuthentic(WebhookVerification.StandardSecret(AcmeSecret), r)), Is.True);
        Assert.That(requests.All(r => WebhookVerification.IsAuthentic(AcmeSecret, r.Header("Ingestion-Timestamp"),
            r.Header("Ingestion-Signature"), r.Body, Tolerance)), Is.True, "every attempt is signed");
        Assert.That(requests[1].At - requests[0].At, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9)), "the configured backoff");

        var delivery = await WaitForDeliveryAsync(_acme, jobId, "delivered");
        Assert.That(Codes(delivery), Is.EqualTo(new int?[] { 500, 503, 204 }));
        Assert.That(delivery["history"]!.AsArray().Select(a => a!["attempt"]!.GetValue<int>()), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(delivery["history"]![0]!["error"]!.GetValue<string>(), Does.Contain("500"));
        Assert.That(delivery["attempts"]!.GetValue<int>(), Is.EqualTo(3));
        await Task.Delay(1500);
        Assert.That(_receiver.Received("flaky"), Has.Count.EqualTo(3), "a delivered webhook is not sent again");
    }

    [Test]
    public async Task Should_give_up_after_the_last_retry_leave_the_job_alone_and_let_an_operator_redeliver()
    {
        _receiver.Answer("down", 500, 500, 500, 200);
        var jobId = await UploadAsync(_acme, Csv(2), _receiver.Url("down"));

        var delivery = await WaitForDeliveryAsync(_acme, jobId, "gave_up");
        Assert.That(Codes(delivery), Is.EqualTo(new int?[] { 500, 500, 500 }), "the first attempt and the two configured retries");
        Assert.That((await _acme.GetJsonAsync($"/v1/jobs/{jobId}"))["status"]!.GetValue<string>(), Is.EqualTo("completed"));

        var redeliver = $"/v1/jobs/{jobId}/webhooks/{delivery["deliveryId"]}/redeliver";
        using (var refused = await _acme.PostAsync(redeliver, null))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), "redelivery is for operators");
        }

        using (var accepted = await _ops.PostAsync(redeliver, null))
        {
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await accepted.Content.ReadAsStringAsync());
        }

        delivery = await WaitForDeliveryAsync(_acme, jobId, "delivered");
        Assert.That(Codes(delivery), Is.EqualTo(new int?[] { 500, 500, 500, 200 }));
        using var again = await _ops.PostAsync(redeliver, null);
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "a delivered webhook is not redelivered");
    }

    [Test]
    public async Task Should_say_why_a_job_failed_in_its_callback()
    {
        var jobId = await UploadAsync(_acme, Encoding.UTF8.GetBytes("transaction_id,merchant\n1,x\n"), _receiver.Url("failed"));

        var request = (await _receiver.WaitForAsync("failed", 1, TimeSpan.FromSeconds(30))).Single();
        var body = JsonNode.Parse(request.Body)!;
        Assert.That(body["jobId"]!.GetValue<Guid>(), Is.EqualTo(jobId));
        Assert.That(body["status"]!.GetValue<string>(), Is.EqualTo("failed"));
        Assert.That(body["error"]!["code"]!.GetValue<string>(), Is.EqualTo("missing_columns"));
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Does.Contain("occurred_at"));
    }

    [Test]
    public async Task Should_post_a_signed_callback_when_a_statement_is_ready()
    {
        using var response = await _acme.PostAsJsonAsync("/v1/statements", new
        {
            accountId = Random.Shared.NextInt64(10_000_000, 90_000_000),
            from = "2026-01-01",
            to = "2026-01-31",
            callbackUrl = _receiver.Url("statement"),
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await response.Content.ReadAsStringAsync());
        var jobId = (await response.Content.ReadFromJsonAsync<JsonNode>())!["jobId"]!.GetValue<Guid>();

        var request = (await _receiver.WaitForAsync("statement", 1, TimeSpan.FromSeconds(60))).Single();
        Assert.That(WebhookVerification.IsAuthentic(AcmeSecret, request.Header("Ingestion-Timestamp"),
            request.Header("Ingestion-Signature"), request.Body, Tolerance), Is.True);
        var body = JsonNode.Parse(request.Body)!;
        Assert.That(body["jobId"]!.GetValue<Guid>(), Is.EqualTo(jobId));
        Assert.That(body["kind"]!.GetValue<string>(), Is.EqualTo("statement"));
        Assert.That(body["status"]!.GetValue<string>(), Is.EqualTo("ready"));
        Assert.That(body["counts"]!["pages"]!.GetValue<long>(), Is.GreaterThan(0));
    }

    [Test]
    public async Task Should_show_a_jobs_webhooks_only_to_its_tenant_and_operators()
    {
        var jobId = await UploadAsync(_acme, Csv(1), _receiver.Url("visibility"));
        await WaitForDeliveryAsync(_acme, jobId, "delivered");

        using var foreign = await _globex.GetAsync($"/v1/jobs/{jobId}/webhooks");
        Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await foreign.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("Unknown job"));
        var seenByOps = await _ops.GetJsonAsync($"/v1/jobs/{jobId}/webhooks");
        Assert.That(seenByOps["deliveries"]!.AsArray(), Has.Count.EqualTo(1));
        using var missing = await _acme.GetAsync($"/v1/jobs/{Guid.NewGuid()}/webhooks");
        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Should_refuse_a_callback_url_from_a_tenant_without_a_webhook_secret()
    {
        using var initech = _deployment.Client(InitechKey);
        var url = _receiver.Url("unsigned");
        using var response = await initech.PostAsync("/v1/datasets/transactions/uploads", Form(Csv(1), url));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(),
            Does.StartWith("callbackUrl cannot be used").And.Contain("no webhook secret"));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.jobs where tenant_id = 'initech'"), Is.Zero);
    }

    /// <summary>Rows with ids no other upload uses: the dataset's key would reject repeats.</summary>
    private static byte[] Csv(int rows) => new TestCsv().Transactions(rows);

    private static MultipartFormDataContent Form(byte[] csv, string callbackUrl) => new()
    {
        { new StringContent(callbackUrl), "callbackUrl" },
        { new ByteArrayContent(csv) { Headers = { ContentType = new MediaTypeHeaderValue("text/csv") } }, "file", "hooked.csv" },
    };

    private static async Task<Guid> UploadAsync(HttpClient client, byte[] csv, string callbackUrl)
    {
        using var form = Form(csv, callbackUrl);
        using var response = await client.PostAsync("/v1/datasets/transactions/uploads", form);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }

    /// <summary>The job's one delivery once it has reached <paramref name="status"/>, as <c>GET /v1/jobs/{id}/webhooks</c> shows it.</summary>
    private static async Task<JsonNode> WaitForDeliveryAsync(HttpClient client, Guid jobId, string status)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
        JsonNode webhooks;
        do
        {
            webhooks = await client.GetJsonAsync($"/v1/jobs/{jobId}/webhooks");
            if (webhooks["deliveries"]!.AsArray() is [{ } only] && only["status"]!.GetValue<string>() == status)
            {
                return only;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"Job {jobId}'s webhook did not reach {status}: {webhooks.ToJsonString()}");
        return null!;
    }

    private static int?[] Codes(JsonNode delivery) =>
        delivery["history"]!.AsArray().Select(a => a!["statusCode"]?.GetValue<int>()).ToArray();
}
