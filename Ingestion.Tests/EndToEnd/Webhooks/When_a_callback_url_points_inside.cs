using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Webhooks;

/// <summary>
/// A callback URL that leads to the machine itself, the private network or the cloud's
/// metadata service is refused when the job is requested (the shared deployment allow-lists
/// no host), with a problem that names the field and why, and no job is created.
/// </summary>
public sealed class When_a_callback_url_points_inside
{
    private readonly TestCsv _csv = new();
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect() => _acme = TestRun.Shared.Client(Keys.Acme);

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [TestCase("http://127.0.0.1:8080/hook", "127.0.0.1 is loopback")]
    [TestCase("http://10.0.0.1/hook", "10.0.0.1 is private (10.0.0.0/8)")]
    [TestCase("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is the cloud metadata service")]
    [TestCase("http://[::1]:8080/hook", "::1 is loopback")]
    [TestCase("http://[::ffff:192.168.0.1]/hook", "192.168.0.1 is private (192.168.0.0/16)")]
    [TestCase("http://localhost:8080/hook", "host 'localhost' resolves to 127.0.0.1, which is loopback")]
    [TestCase("https://no-such-host.invalid/hook", "host 'no-such-host.invalid', which does not resolve")]
    public async Task Should_refuse_an_upload_with_it(string callbackUrl, string why)
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent(callbackUrl), "callbackUrl" },
            { new ByteArrayContent(_csv.Transactions(2)) { Headers = { ContentType = new MediaTypeHeaderValue("text/csv") } }, "file", "a.csv" },
        };

        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads", form);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(), Does.StartWith("callbackUrl").And.Contain(why));
        await AssertNoJobAsync(callbackUrl);
    }

    [TestCase("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is the cloud metadata service")]
    [TestCase("http://localhost/hook", "resolves to 127.0.0.1, which is loopback")]
    public async Task Should_refuse_a_statement_with_it(string callbackUrl, string why)
    {
        using var response = await _acme.PostAsJsonAsync("/v1/statements", new { accountId = 1, from = "2026-01-01", to = "2026-01-31", callbackUrl });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await response.ProblemAsync();
        Assert.That(problem["errors"]!["callbackUrl"]![0]!.GetValue<string>(), Does.Contain(why));
        await AssertNoJobAsync(callbackUrl);
    }

    [Test]
    public async Task Should_refuse_a_statement_with_a_callback_url_that_is_not_http()
    {
        using var response = await _acme.PostAsJsonAsync("/v1/statements",
            new { accountId = 1, from = "2026-01-01", callbackUrl = "file:///etc/passwd" });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["errors"]!["callbackUrl"]![0]!.GetValue<string>(),
            Does.Contain("must be http or https"));
        await AssertNoJobAsync("file:///etc/passwd");
    }

    private static async Task AssertNoJobAsync(string callbackUrl) =>
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.jobs where data->>'callbackUrl' = @url", ("url", callbackUrl)), Is.Zero, "no job was created");
}
