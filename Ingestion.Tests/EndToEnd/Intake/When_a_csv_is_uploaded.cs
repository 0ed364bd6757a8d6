using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Intake;

/// <summary>
/// Intake on its own: an API with no worker yet, so every accepted upload stays where
/// intake leaves it (an object in S3, a job in <c>uploaded</c>) until a worker joins.
/// </summary>
public sealed class When_a_csv_is_uploaded
{
    private Deployment _deployment = null!;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private readonly TestCsv _csv = new();

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _deployment = await Deployment.StartAsync(TestRun.Servers, "intake", new Dictionary<string, string>
        {
            ["Uploads__MaxBytes"] = (20 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            // hooks.example.com does not resolve here; the test is about the form, not the address check.
            ["Webhooks__AllowedHosts__0"] = "hooks.example.com",
        }, workers: 0);
        _acme = _deployment.Client(Keys.Acme);
        _globex = _deployment.Client(Keys.Globex);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        _globex.Dispose();
        await _deployment.DisposeAsync();
    }

    [Test, Order(1)]
    public async Task Should_stream_a_multi_megabyte_file_into_s3_unchanged_and_answer_202()
    {
        var csv = _csv.Transactions(120_000);
        Assert.That(csv.Length, Is.GreaterThan(8 * 1024 * 1024), "more than one 8 MiB multipart part");

        using var response = await _acme.UploadCsvAsync("transactions", csv);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToJsonString());
        var jobId = body["jobId"]!.GetValue<Guid>();
        Assert.That(body["status"]!.GetValue<string>(), Is.EqualTo("uploaded"));
        Assert.That(body["statusUrl"]!.GetValue<string>(), Is.EqualTo($"/v1/jobs/{jobId}"));
        Assert.That(response.Headers.Location!.ToString(), Is.EqualTo($"/v1/jobs/{jobId}"));

        var job = await _acme.GetJsonAsync($"/v1/jobs/{jobId}");
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("uploaded"));
        Assert.That(job["bytes"]!.GetValue<long>(), Is.EqualTo(csv.Length));
        Assert.That(job["sha256"]!.GetValue<string>(), Is.EqualTo(TestCsv.Sha256(csv)));

        using var stored = await _deployment.Sandbox.S3.GetObjectAsync(_deployment.Sandbox.Bucket, $"uploads/acme/{jobId:N}.csv");
        await using var storedBody = stored.ResponseStream;
        Assert.That(Convert.ToHexStringLower(await SHA256.HashDataAsync(storedBody)), Is.EqualTo(TestCsv.Sha256(csv)),
            "the object in S3 is byte for byte the upload");
        Assert.That(await _deployment.Sandbox.PendingMultipartUploadsAsync(), Is.Zero);
    }

    [Test, Order(1)]
    public async Task Should_take_a_multipart_form_with_a_callback_url()
    {
        var csv = _csv.Transactions(10);
        using var form = new MultipartFormDataContent
        {
            { new StringContent("https://hooks.example.com/ingestion"), "callbackUrl" },
            { new ByteArrayContent(csv) { Headers = { ContentType = new MediaTypeHeaderValue("text/csv") } }, "file", "partner.csv" },
        };

        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads", form);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToJsonString());
        var job = await _acme.GetJsonAsync($"/v1/jobs/{body["jobId"]}");
        Assert.That(job["sha256"]!.GetValue<string>(), Is.EqualTo(TestCsv.Sha256(csv)));
        var callback = await _deployment.Sandbox.ScalarAsync<string>(
            "select data->>'callbackUrl' from ingestion.jobs where job_id = @id", ("id", body["jobId"]!.GetValue<Guid>()));
        Assert.That(callback, Is.EqualTo("https://hooks.example.com/ingestion"));
    }

    [Test, Order(1)]
    public async Task Should_return_the_same_job_for_a_repeated_idempotency_key()
    {
        var csv = _csv.Transactions(20);
        var key = Guid.NewGuid().ToString();

        using var first = await _acme.UploadCsvAsync("transactions", csv, key);
        using var second = await _acme.UploadCsvAsync("transactions", csv, key);
        var firstJob = JsonNode.Parse(await first.Content.ReadAsStringAsync())!["jobId"]!.GetValue<Guid>();
        var secondJob = JsonNode.Parse(await second.Content.ReadAsStringAsync())!["jobId"]!.GetValue<Guid>();

        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        Assert.That(secondJob, Is.EqualTo(firstJob));
        Assert.That(second.Headers.GetValues("Idempotent-Replayed"), Is.EqualTo(new[] { "true" }));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.jobs where tenant_id = 'acme' and idempotency_key = @key", ("key", key)), Is.EqualTo(1));
    }

    [Test, Order(1)]
    public async Task Should_make_one_job_of_concurrent_requests_with_one_idempotency_key()
    {
        var csv = _csv.Transactions(2000);
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => _acme.UploadCsvAsync("transactions", csv, key)));
        var jobs = await Task.WhenAll(responses.Select(async r => JsonNode.Parse(await r.Content.ReadAsStringAsync())!["jobId"]!.GetValue<Guid>()));

        Assert.That(responses.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.Accepted));
        Assert.That(jobs.Distinct().Count(), Is.EqualTo(1));
        Assert.That(await _deployment.Sandbox.ObjectKeysAsync($"uploads/acme/{jobs[0]:N}"), Has.Count.EqualTo(1));
        var orphans = (await _deployment.Sandbox.ObjectKeysAsync("uploads/acme/"))
            .Where(k => !k.Contains(jobs[0].ToString("N"), StringComparison.Ordinal));
        var known = await _deployment.Sandbox.ScalarAsync<string[]>("select array_agg(data->>'key') from ingestion.jobs") ?? [];
        Assert.That(orphans.Except(known), Is.Empty, "the losing requests' objects were deleted");
    }

    [Test, Order(1)]
    public async Task Should_answer_another_tenant_404_as_for_a_job_that_does_not_exist()
    {
        var jobId = await _acme.StartUploadAsync("transactions", _csv.Transactions(5));

        using var foreign = await _globex.GetAsync($"/v1/jobs/{jobId}");
        using var missing = await _globex.GetAsync($"/v1/jobs/{Guid.NewGuid()}");

        Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await foreign.ProblemAsync())["title"]!.GetValue<string>(),
            Is.EqualTo((await missing.ProblemAsync())["title"]!.GetValue<string>()));
        var list = await _globex.GetJsonAsync("/v1/jobs?limit=200");
        Assert.That(list["items"]!.AsArray().Select(j => j!["jobId"]!.GetValue<Guid>()), Does.Not.Contain(jobId));
    }

    [Test, Order(1)]
    public async Task Should_list_a_tenants_jobs_newest_first_in_pages()
    {
        var started = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            started.Add(await _acme.StartUploadAsync("transactions", _csv.Transactions(1)));
        }

        var first = await _acme.GetJsonAsync("/v1/jobs?limit=2&dataset=transactions&state=uploaded");
        var second = await _acme.GetJsonAsync(first["next"]!.GetValue<string>());

        var firstIds = first["items"]!.AsArray().Select(j => j!["jobId"]!.GetValue<Guid>()).ToList();
        Assert.That(firstIds, Is.EqualTo(new[] { started[2], started[1] }));
        Assert.That(second["items"]![0]!["jobId"]!.GetValue<Guid>(), Is.EqualTo(started[0]));
    }

    [Test, Order(2)]
    public async Task Should_process_accepted_jobs_once_a_worker_is_running()
    {
        var csv = new TestCsv();
        var jobId = await _acme.StartUploadAsync("transactions", csv.Transactions(50));
        Assert.That((await _acme.GetJsonAsync($"/v1/jobs/{jobId}"))["status"]!.GetValue<string>(), Is.EqualTo("uploaded"));

        await _deployment.StartWorkerAsync();
        var job = await _acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["startedAt"]!.GetValue<DateTimeOffset>(), Is.LessThanOrEqualTo(job["completedAt"]!.GetValue<DateTimeOffset>()));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(50));
        var loaded = await _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from tenant_acme.transactions where transaction_id = any(@ids)",
            ("ids", Enumerable.Range(1, 50).Select(csv.Id).ToArray()));
        Assert.That(loaded, Is.EqualTo(50));
    }
}
