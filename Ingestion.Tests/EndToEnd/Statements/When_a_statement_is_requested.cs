using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Statements;

/// <summary>
/// An account's transactions go in through the upload pipeline, a PDF is attached to the
/// account, and the statement that comes out (fetched through its presigned link by a client
/// without a key) says what the data says, page by page.
/// </summary>
public sealed partial class When_a_statement_is_requested
{
    private const int Lines = 150;
    private static readonly string[] Categories = ["groceries", "travel", "rent", "salary"];
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private Guid _jobId;
    private List<string> _pages = null!;
    private JsonNode _job = null!;

    [OneTimeSetUp]
    public async Task RenderAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _globex = TestRun.Shared.Client(Keys.Globex);
        var load = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync("transactions", Transactions()));
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());

        using var attach = new ByteArrayContent(Pdfs.Make("Attachment page one", "Attachment page two"));
        attach.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/pdf");
        attach.Headers.ContentDisposition = new System.Net.Http.Headers.ContentDispositionHeaderValue("attachment") { FileName = "contract.pdf" };
        using var attached = await _acme.PostAsync($"/v1/accounts/{_account}/documents", attach);
        Assert.That(attached.StatusCode, Is.EqualTo(HttpStatusCode.Created), await attached.Content.ReadAsStringAsync());

        _jobId = await RequestAsync(_acme, new { accountId = _account, from = "2026-01-01", to = "2026-03-31" });
        _job = await _acme.WaitForJobEndAsync(_jobId, 90);
        Assert.That(_job["status"]!.GetValue<string>(), Is.EqualTo("ready"), _job.ToJsonString());
        var (pdf, _) = await Pdfs.DownloadAsync(_acme, _jobId);
        _pages = Pdfs.Pages(pdf).Select(Normalize).ToList();
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _acme.Dispose();
        _globex.Dispose();
    }

    /// <summary>Two lines before the period (the opening balance), the period's lines, one after, and another account's.</summary>
    private byte[] Transactions()
    {
        var csv = new StringBuilder(TestCsv.Header).Append('\n');
        void Row(long account, DateTime at, decimal amount, string merchant, string category, string description) =>
            csv.Append(CultureInfo.InvariantCulture, $"{Guid.NewGuid()},{account},{at:yyyy-MM-ddTHH:mm:ssZ},{amount},CHF,{merchant},{category},{description}\n");

        Row(_account, new DateTime(2025, 12, 15, 9, 0, 0), 1000.00m, "Employer", "salary", "Before the period");
        Row(_account, new DateTime(2025, 12, 20, 9, 0, 0), -200.00m, "Landlord", "rent", "Before the period");
        for (var i = 1; i <= Lines; i++)
        {
            Row(_account, At(i), Amount(i), i == 77 ? "Zürich Łódź Αθήνα" : $"Shop {i % 7}", Categories[i % 4], $"Line {i:000}");
        }

        Row(_account, new DateTime(2026, 4, 15, 9, 0, 0), 5.00m, "Later", "travel", "After the period");
        Row(_account + 1, At(5), 1.00m, "Elsewhere", "travel", "Foreign line");
        return Encoding.UTF8.GetBytes(csv.ToString());
    }

    private static DateTime At(int line) => new DateTime(2026, 1, 1, 0, 0, 0).AddHours(line * 12);

    private static decimal Amount(int line) => line % 3 == 0 ? 100 + line : -(10 + line / 10m);

    [Test]
    public void Should_have_a_cover_two_analytics_pages_the_lines_and_the_attachment()
    {
        Assert.That(_pages, Has.Count.EqualTo(3 + 4 + 2), "cover, analytics ×2, 150 lines at 48 a page, 2 attached pages");
        for (var page = 1; page <= _pages.Count; page++)
        {
            Assert.That(_pages[page - 1], Does.Contain($"Page {page} of {_pages.Count}"));
        }

        Assert.That(_job["progress"]!["pagesTotal"]!.GetValue<int>(), Is.EqualTo(9));
        Assert.That(_job["progress"]!["linesTotal"]!.GetValue<long>(), Is.EqualTo(Lines));
    }

    [Test]
    public void Should_put_the_period_totals_on_the_cover()
    {
        var amounts = Enumerable.Range(1, Lines).Select(Amount).ToList();
        var moneyIn = amounts.Where(a => a > 0).Sum();
        var moneyOut = amounts.Where(a => a < 0).Sum();
        var cover = _pages[0];

        Assert.That(cover, Does.Contain("Account statement"));
        Assert.That(cover, Does.Contain(_account.ToString(CultureInfo.InvariantCulture)));
        Assert.That(cover, Does.Contain("2026-01-01 – 2026-03-31"));
        Assert.That(cover, Does.Contain($"CHF 800.00 {Money(moneyIn)} {Money(moneyOut)} {Money(800 + moneyIn + moneyOut)} 150"),
            "opening, in, out, closing, count");
    }

    [Test]
    public void Should_list_the_lines_in_order_with_a_running_balance()
    {
        Assert.That(_pages[3], Does.Contain("Date Description Merchant Category Amount Balance"));
        Assert.That(_pages[3], Does.Contain($"2026-01-01 Line 001 Shop 1 travel {Money(Amount(1))} {Money(800 + Amount(1))} CHF"));
        var closing = 800 + Enumerable.Range(1, Lines).Select(Amount).Sum();
        Assert.That(_pages[6], Does.Contain($"Line 150 Shop 3 rent {Money(Amount(150))} {Money(closing)} CHF"));
        Assert.That(_pages[6], Does.Not.Contain("Line 151"));
        Assert.That(string.Join(' ', _pages), Does.Not.Contain("Foreign line").And.Not.Contain("After the period").And.Not.Contain("Before the period"));
    }

    [Test]
    public void Should_render_non_latin_text_as_written() =>
        Assert.That(_pages[4], Does.Contain("Line 077 Zürich Łódź Αθήνα"));

    [Test]
    public void Should_sum_by_month_and_category()
    {
        Assert.That(_pages[1], Does.Contain("Top 25 categories"));
        var salary = Enumerable.Range(1, Lines).Where(i => i % 4 == 3).Select(Amount).ToList();
        Assert.That(_pages[1], Does.Contain(
            $"salary CHF {Money(salary.Where(a => a > 0).Sum())} {Money(salary.Where(a => a < 0).Sum())} {Money(salary.Sum())} {salary.Count}"));
        Assert.That(_pages[2], Does.Contain("By month").And.Contain("2026-01").And.Contain("2026-02").And.Contain("2026-03"));
        Assert.That(_pages[2], Does.Contain("Money in and out per month (CHF)"));
    }

    [Test]
    public void Should_append_the_attached_document_page_by_page()
    {
        Assert.That(_pages[7], Does.Contain("Attachment page one").And.Contain("attached: contract.pdf"));
        Assert.That(_pages[8], Does.Contain("Attachment page two"));
    }

    [Test]
    public async Task Should_redirect_to_the_document_when_asked()
    {
        using var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _acme.BaseAddress };
        noRedirects.DefaultRequestHeaders.Add("X-Api-Key", Keys.Acme);

        using var response = await noRedirects.GetAsync($"/v1/jobs/{_jobId}/download?redirect=true");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.SeeOther));
        Assert.That(response.Headers.Location!.ToString(), Does.Contain("statement-").And.Contain(".pdf"));
    }

    [Test]
    public async Task Should_cap_the_lifetime_of_a_link()
    {
        var link = await _acme.GetJsonAsync($"/v1/jobs/{_jobId}/download?expiresIn=99999999");

        Assert.That(link["expiresAt"]!.GetValue<DateTimeOffset>(), Is.LessThanOrEqualTo(DateTimeOffset.UtcNow.AddHours(1).AddMinutes(1)));
        Assert.That(link["contentType"]!.GetValue<string>(), Is.EqualTo("application/pdf"));
    }

    [Test]
    public async Task Should_answer_another_tenant_404()
    {
        using var download = await _globex.GetAsync($"/v1/jobs/{_jobId}/download");
        Assert.That(download.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Should_say_so_in_a_valid_pdf_when_the_account_has_no_transactions()
    {
        var job = await RequestAsync(_acme, new { accountId = _account + 5, from = "2026-01-01", to = "2026-01-31" });
        Assert.That((await _acme.WaitForJobEndAsync(job, 60))["status"]!.GetValue<string>(), Is.EqualTo("ready"));

        var pages = Pdfs.Pages((await Pdfs.DownloadAsync(_acme, job)).Bytes).Select(Normalize).ToList();

        Assert.That(pages, Has.Count.EqualTo(4));
        Assert.That(pages[0], Does.Contain("No transactions in this period."));
        Assert.That(pages[3], Does.Contain("No transactions in this period."));
    }

    [TestCase("{\"accountId\": 1, \"from\": \"2026-03-01\", \"to\": \"2026-01-01\"}", "from", "is after to")]
    [TestCase("{\"accountId\": 1, \"from\": \"2020-01-01\", \"to\": \"2026-01-01\"}", "to", "a statement covers at most")]
    [TestCase("{\"accountId\": 1, \"from\": \"01/02/2026\"}", "from", "is not a date")]
    [TestCase("{\"from\": \"2026-01-01\"}", "accountId", "is required")]
    public async Task Should_refuse_an_invalid_request_with_the_reason(string body, string field, string reason)
    {
        using var response = await _acme.PostAsync("/v1/statements", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await response.ProblemAsync())["errors"]!;
        Assert.That(errors[field]![0]!.GetValue<string>(), Does.Contain(reason));
    }

    [Test]
    public async Task Should_refuse_to_download_what_an_upload_job_never_produced()
    {
        var upload = await _acme.StartUploadAsync("transactions", new TestCsv().Transactions(1));
        using var response = await _acme.GetAsync($"/v1/jobs/{upload}/download");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That((await response.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("This job has no document"));
    }

    [Test]
    public async Task Should_refuse_an_attachment_that_is_not_a_pdf()
    {
        using var content = new ByteArrayContent("%PDF-1.7 but nothing after it"u8.ToArray());
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/pdf");

        using var response = await _acme.PostAsync($"/v1/accounts/{_account}/documents", content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await response.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("Not a valid PDF"));
        var listed = await _acme.GetJsonAsync($"/v1/accounts/{_account}/documents");
        Assert.That(listed.AsArray(), Has.Count.EqualTo(1), "only the valid attachment");
    }

    internal static async Task<Guid> RequestAsync(HttpClient client, object request)
    {
        using var response = await client.PostAsJsonAsync("/v1/statements", request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }

    private static string Money(decimal amount) => amount.ToString("#,##0.00;−#,##0.00", CultureInfo.InvariantCulture);

    private static string Normalize(string text) => Whitespace().Replace(text, " ");

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
