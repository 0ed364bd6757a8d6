using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Intake;

/// <summary>
/// Every refusal is a problem response that says what was wrong, and leaves nothing
/// behind: no job, no object, no pending multipart upload. This stack reaches PostgreSQL
/// and S3 through relays the tests can cut, and has no workers.
/// </summary>
public sealed class When_an_upload_is_refused
{
    private const int Limit = 20 * 1024 * 1024;
    private TcpProxy _postgres = null!;
    private TcpProxy _s3 = null!;
    private Deployment _deployment = null!;
    private HttpClient _acme = null!;
    private readonly TestCsv _csv = new();

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var servers = TestRun.Servers;
        _postgres = new TcpProxy(servers.PostgresHost, servers.PostgresPort);
        var s3 = new Uri(servers.S3Url);
        _s3 = new TcpProxy(s3.Host, s3.Port);
        _deployment = await Deployment.StartAsync(servers, "refusals", new Dictionary<string, string>
        {
            ["Uploads__MaxBytes"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["S3__ServiceUrl"] = $"http://127.0.0.1:{_s3.Port}",
        }, workers: 0, postgresPort: _postgres.Port);
        _acme = _deployment.Client(Keys.Acme);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        await _deployment.DisposeAsync();
        await _postgres.DisposeAsync();
        await _s3.DisposeAsync();
    }

    [TearDown]
    public void Reconnect()
    {
        _postgres.Restore();
        _s3.Restore();
    }

    [Test]
    public async Task Should_answer_401_without_a_key_or_with_an_unknown_one()
    {
        using var anonymous = new HttpClient { BaseAddress = _deployment.Api.Url };
        using var stranger = _deployment.Client("not-a-key-of-this-service");

        using var none = await anonymous.UploadCsvAsync("transactions", _csv.Transactions(1));
        using var unknown = await stranger.UploadCsvAsync("transactions", _csv.Transactions(1));

        Assert.That(none.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await none.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("API key required"));
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await unknown.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("Unknown API key"));
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_answer_404_for_an_unknown_dataset()
    {
        using var response = await _acme.UploadCsvAsync("no_such_dataset", _csv.Transactions(1));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("no_such_dataset"));
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_answer_415_for_a_body_that_is_not_csv()
    {
        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads",
            new StringContent("{\"rows\":[]}", Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.UnsupportedMediaType));
        Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("application/json"));
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_answer_400_for_an_empty_body()
    {
        using var response = await _acme.UploadCsvAsync("transactions", []);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("Empty upload"));
        await AssertNothingLeftAsync();
    }

    [TestCase("ftp://hooks.example.com/x", "must be http or https")]
    [TestCase("not a url", "is not an absolute URL")]
    [TestCase("https://user:secret@hooks.example.com/x", "credentials")]
    public async Task Should_answer_400_for_a_malformed_callback_url(string callbackUrl, string reason)
    {
        using var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(_csv.Transactions(3)) { Headers = { ContentType = new MediaTypeHeaderValue("text/csv") } }, "file", "a.csv" },
            { new StringContent(callbackUrl), "callbackUrl" },
        };

        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads", form);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain(reason));
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_answer_413_at_once_when_the_declared_length_is_over_the_limit()
    {
        using var response = await _acme.UploadCsvAsync("transactions", new byte[Limit + 1]);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("20,971,520"));
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_answer_413_and_abort_the_s3_upload_when_a_streamed_body_grows_past_the_limit()
    {
        var half = Encoding.UTF8.GetBytes(new string('x', Limit / 2 + 1024));
        using var request = GatedContent.Upload("transactions", new GatedContent(half, half, () => Task.CompletedTask));

        using var response = await _acme.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        await AssertNothingLeftAsync();
    }

    [TestCase(false, TestName = "Should_abort_the_s3_multipart_upload_and_create_no_job_when_a_chunked_client_goes_away")]
    [TestCase(true, TestName = "Should_keep_no_object_and_create_no_job_when_a_client_with_a_content_length_goes_away")]
    public async Task Should_keep_nothing_when_the_client_goes_away(bool declareLength)
    {
        var first = _csv.Transactions(100_000);
        Assert.That(first.Length, Is.GreaterThan(8 * 1024 * 1024), "a multipart upload is under way when the client leaves");
        using var request = GatedContent.Upload("transactions", new GatedContent(first, new byte[1024], async () =>
        {
            await Task.Delay(500);
            throw new IOException("the client vanished");
        }, declareLength: declareLength));

        Assert.That(async () => await _acme.SendAsync(request), Throws.InstanceOf<HttpRequestException>());
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_answer_503_and_keep_nothing_when_s3_is_unreachable()
    {
        _s3.Cut();
        using var response = await _acme.UploadCsvAsync("transactions", _csv.Transactions(100));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        var problem = await response.ProblemAsync();
        Assert.That(problem["title"]!.GetValue<string>(), Is.EqualTo("S3 is unavailable"));
        Assert.That(problem.ToJsonString(), Does.Not.Contain("   at "), "no stack trace");
        Assert.That(response.Headers.RetryAfter, Is.Not.Null);
        _s3.Restore();
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_answer_503_when_postgres_is_unreachable()
    {
        _postgres.Cut();
        using var response = await _acme.UploadCsvAsync("transactions", _csv.Transactions(100));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That((await response.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("PostgreSQL is unavailable"));
        _postgres.Restore();
        await AssertNothingLeftAsync();
    }

    [Test]
    public async Task Should_delete_the_stored_object_when_postgres_goes_away_before_the_job_is_recorded()
    {
        var csv = _csv.Transactions(20_000);
        using var request = GatedContent.Upload("transactions", new GatedContent(csv[..(csv.Length / 2)], csv[(csv.Length / 2)..], () =>
        {
            _postgres.Cut();
            return Task.CompletedTask;
        }));

        using var response = await _acme.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), await response.Content.ReadAsStringAsync());
        _postgres.Restore();
        await AssertNothingLeftAsync();
    }

    private async Task AssertNothingLeftAsync()
    {
        var sandbox = _deployment.Sandbox;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline
               && ((await sandbox.ObjectKeysAsync("uploads/")).Count > 0 || await sandbox.PendingMultipartUploadsAsync() > 0))
        {
            await Task.Delay(200);
        }

        Assert.That(await sandbox.ObjectKeysAsync("uploads/"), Is.Empty, "no object is kept");
        Assert.That(await sandbox.PendingMultipartUploadsAsync(), Is.Zero, "no multipart upload is left pending");
        Assert.That(await sandbox.ScalarAsync<long>("select count(*) from ingestion.jobs"), Is.Zero, "no job exists");
        Assert.That(await sandbox.ScalarAsync<long>("select count(*) from ingestion.outbox"), Is.Zero, "nothing waits to be sent");
    }
}
