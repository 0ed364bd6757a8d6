using System.Net;
using System.Net.Http.Headers;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Protection;

/// <summary>
/// An account may have two of these PDFs attached (its quota, in bytes). The third is refused
/// with a problem that says the quota and what is left, and nothing of it is kept; another
/// account still has its own room.
/// </summary>
public sealed class When_an_account_attaches_beyond_its_quota
{
    private static readonly byte[] Pdf = Pdfs.Make("Terms and conditions");
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);
    private readonly List<HttpStatusCode> _attached = [];
    private Deployment _stack = null!;
    private HttpClient _acme = null!;
    private HttpResponseMessage _refused = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _stack = await Deployment.StartAsync(TestRun.Servers, "quota", new Dictionary<string, string>
        {
            ["Statements__AttachmentQuotaBytesPerAccount"] = (2 * Pdf.Length + 100).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        _acme = _stack.Client(Keys.Acme);
        for (var i = 0; i < 2; i++)
        {
            using var response = await AttachAsync(_account);
            _attached.Add(response.StatusCode);
        }

        _refused = await AttachAsync(_account);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _refused.Dispose();
        _acme.Dispose();
        await _stack.DisposeAsync();
    }

    [Test]
    public void Should_attach_documents_while_they_fit() =>
        Assert.That(_attached, Is.EqualTo(new[] { HttpStatusCode.Created, HttpStatusCode.Created }));

    [Test]
    public async Task Should_refuse_the_one_beyond_the_quota_and_say_what_is_left()
    {
        Assert.That(_refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        var problem = await _refused.ProblemAsync();
        Assert.That(problem["title"]!.GetValue<string>(), Is.EqualTo("The account's attachment quota is full"));
        Assert.That(problem["quotaBytes"]!.GetValue<long>(), Is.EqualTo(2 * Pdf.Length + 100));
        Assert.That(problem["remainingBytes"]!.GetValue<long>(), Is.EqualTo(100));
    }

    [Test]
    public async Task Should_keep_nothing_of_the_refused_document()
    {
        var listed = await _acme.GetJsonAsync($"/v1/accounts/{_account}/documents");
        Assert.That(listed.AsArray(), Has.Count.EqualTo(2));
        Assert.That(await _stack.Sandbox.ObjectKeysAsync($"attachments/acme/{_account}/"), Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Should_leave_another_account_its_own_room()
    {
        using var response = await AttachAsync(_account + 1);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), await response.Content.ReadAsStringAsync());
    }

    private async Task<HttpResponseMessage> AttachAsync(long account)
    {
        using var content = new ByteArrayContent(Pdf);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/pdf");
        return await _acme.PostAsync($"/v1/accounts/{account}/documents", content);
    }
}
