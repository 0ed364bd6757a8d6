using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Services;

/// <summary>
/// samples/Ingestion.Sample.Publisher, the project an internal team copies, run as its own process
/// against the real servers and the running service, configured as it would be (environment variables):
/// it puts its CSV into S3, submits it, awaits the outcome, asks for a statement and prints its link.
/// </summary>
public sealed partial class When_the_sample_publisher_runs
{
    private const string KeyPrefix = "incoming/sample-publisher/";

    [Test]
    public async Task Should_load_its_file_and_print_a_link_to_the_statement_pdf()
    {
        var account = Random.Shared.NextInt64(100_000_000, 900_000_000);
        var csv = await WriteCsvAsync(new TestCsv().Transactions(40, account));

        var (exitCode, output) = await RunAsync(csv, "transactions", account);
        await TestContext.Out.WriteLineAsync(output);

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Match(@"upload \S+ accepted: uploaded"));
        Assert.That(output, Does.Match(@"upload \S+ completed: rowsLoaded=40 rowsRejected=0"));
        Assert.That(output, Does.Match(@"statement \S+ accepted: requested"));
        var statement = StatementLine().Match(output);
        Assert.That(statement.Success, Is.True, output);
        Assert.That(statement.Groups["lines"].Value, Is.EqualTo("40"));

        using var s3 = new HttpClient();
        var pdf = await s3.GetByteArrayAsync(LinkLine().Match(output).Groups["url"].Value);
        Assert.That(Pdfs.Pages(pdf), Has.Count.EqualTo(int.Parse(statement.Groups["pages"].Value, CultureInfo.InvariantCulture)));
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync(KeyPrefix), Is.Empty, "a completed upload's object is deleted");
    }

    [Test]
    public async Task Should_say_why_a_file_for_an_unknown_dataset_was_refused()
    {
        var csv = await WriteCsvAsync(new TestCsv().Transactions(1));

        var (exitCode, output) = await RunAsync(csv, "no_such_dataset", 1);

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain("Ingestion refused the job: SubmitUpload for job "));
        Assert.That(output, Does.Contain("was refused: tenant 'acme' has no dataset 'no_such_dataset'."));
    }

    private static async Task<string> WriteCsvAsync(byte[] csv)
    {
        var path = Path.Combine(Repository.LogDirectory, $"sample-{Guid.NewGuid():N}.csv");
        await File.WriteAllBytesAsync(path, csv);
        return path;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string csvPath, string dataset, long account)
    {
        var sandbox = TestRun.Shared.Sandbox;
        var servers = sandbox.Servers;
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(Repository.Root, "samples", "Ingestion.Sample.Publisher", "bin", Repository.Configuration, "net10.0",
            "Ingestion.Sample.Publisher.dll"));
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["RabbitMq__Host"] = servers.RabbitHost,
            ["RabbitMq__Port"] = servers.RabbitPort.ToString(CultureInfo.InvariantCulture),
            ["RabbitMq__VirtualHost"] = sandbox.VirtualHost,
            ["RabbitMq__Username"] = servers.RabbitUser,
            ["RabbitMq__Password"] = servers.RabbitPassword,
            ["S3__ServiceUrl"] = servers.S3Url,
            ["S3__AccessKey"] = servers.S3AccessKey,
            ["S3__SecretKey"] = servers.S3SecretKey,
            ["Sample__CsvPath"] = csvPath,
            ["Sample__Bucket"] = sandbox.Bucket,
            ["Sample__KeyPrefix"] = KeyPrefix,
            ["Sample__TenantId"] = "acme",
            ["Sample__Dataset"] = dataset,
            ["Sample__AccountId"] = account.ToString(CultureInfo.InvariantCulture),
            ["Sample__From"] = "2026-01-01",
            ["Sample__To"] = "2026-12-31",
            ["Sample__OutcomeQueue"] = $"sample-publisher-{Guid.NewGuid():N}",
            ["Sample__ApiUrl"] = TestRun.Shared.Api.Url.ToString(),
            ["Sample__ApiKey"] = Keys.Acme,
        })
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The sample did not finish within 3 minutes:\n{await stdout}\n{await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"statement \S+ completed: lines=(?<lines>\d+) pages=(?<pages>\d+)")]
    private static partial Regex StatementLine();

    [GeneratedRegex(@"statement link: (?<url>\S+)")]
    private static partial Regex LinkLine();
}
