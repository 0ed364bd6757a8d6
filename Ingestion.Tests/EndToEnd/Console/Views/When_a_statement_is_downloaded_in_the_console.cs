using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Ingestion.Tests.EndToEnd.Console.Views;

/// <summary>
/// A tenant requests a statement on the Statements page, sees it render to ready, and presses
/// Download: the page fetches a fresh presigned link and the browser saves a PDF that opens.
/// </summary>
public sealed class When_a_statement_is_downloaded_in_the_console : ViewsTest
{
    private const int Lines = 30;
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);

    [Test]
    public async Task Should_render_it_live_and_download_a_pdf_that_opens()
    {
        using var acme = ViewsRun.Stack.Client(Keys.Acme);
        var load = await acme.WaitForJobEndAsync(await acme.StartUploadAsync("transactions", new TestCsv().Transactions(Lines, _account)));
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());

        await SignInAsync(Keys.Acme, "#/statements");
        await Page.GetByLabel("Account").FillAsync(_account.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Page.GetByLabel("From").FillAsync("2026-01-01");
        await Page.GetByLabel("To", new() { Exact = true }).FillAsync("2026-12-31");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Request the statement" }).ClickAsync();

        var status = Page.Locator("section.statement p[role=status]");
        await Assertions.Expect(status).ToContainTextAsync("ready", new() { Timeout = 90_000 });
        await Assertions.Expect(Page.Locator("section.statement dl.facts")).ToContainTextAsync("application/pdf");
        Assert.That(Page.Url, Does.Contain("#/statements?job="), "the address names the job, so a reload shows it again");
        await ScreenshotAsync("statement");

        var download = await Page.RunAndWaitForDownloadAsync(
            () => Page.GetByRole(AriaRole.Button, new() { Name = "Download" }).ClickAsync());
        var saved = await File.ReadAllBytesAsync((await download.PathAsync())!);
        Assert.That(saved.AsSpan(0, 5).ToArray(), Is.EqualTo("%PDF-"u8.ToArray()), "the saved file is a PDF");
        Assert.That(string.Join("\n", Pdfs.Pages(saved)), Does.Contain(_account.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            "and it opens: its text names the account");
        Assert.That(download.SuggestedFilename, Does.EndWith(".pdf"));

        // The link the page fetched is a presigned S3 URL: the browser needed no key for it.
        using var plain = new HttpClient();
        using var response = await plain.GetAsync(download.Url);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/pdf"));
        Assert.That(await response.Content.ReadAsByteArrayAsync(), Is.EqualTo(saved));
        AssertNoConsoleErrors();
    }
}
