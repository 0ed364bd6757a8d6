using Ingestion.Platform.Statements;
using Microsoft.Extensions.Options;
using PdfSharp.Fonts;

namespace Ingestion.Workers.Documents;

/// <summary>
/// Statements are set in one sans-serif family found on the machine: DejaVu Sans
/// (Debian's fonts-dejavu-core), else Liberation Sans or Noto Sans. Its regular and bold
/// faces cover Latin, Greek and Cyrillic, so "Zürich", "Łódź" and "Αθήνα" render as
/// written. Found once at start-up: without a font the worker refuses to start and says
/// where it looked.
/// </summary>
internal sealed class SystemFontResolver : IFontResolver
{
    public const string Family = "Statement Sans";

    private static readonly (string Regular, string Bold)[] Candidates =
    [
        ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
        ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
        ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf"),
    ];

    private readonly byte[] _regular;
    private readonly byte[] _bold;

    private SystemFontResolver(string regular, string bold)
    {
        _regular = File.ReadAllBytes(regular);
        _bold = File.ReadAllBytes(bold);
        RegularPath = regular;
    }

    public string RegularPath { get; }

    public static SystemFontResolver Find(IEnumerable<string> configured)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var directories = configured
            .Concat(["/usr/share/fonts", "/usr/local/share/fonts", Path.Combine(home, ".fonts"), Path.Combine(home, ".local/share/fonts")])
            .Where(Directory.Exists)
            .ToList();
        var files = directories
            .SelectMany(d => Directory.EnumerateFiles(d, "*.ttf", SearchOption.AllDirectories))
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key!, g => g.First(), StringComparer.OrdinalIgnoreCase);
        foreach (var (regular, bold) in Candidates)
        {
            if (files.TryGetValue(regular, out var regularPath) && files.TryGetValue(bold, out var boldPath))
            {
                return new SystemFontResolver(regularPath, boldPath);
            }
        }

        throw new InvalidOperationException(
            $"No TrueType font for statements: looked for {string.Join(", ", Candidates.Select(c => c.Regular))} " +
            $"(with their bold faces) in {string.Join(", ", directories.DefaultIfEmpty("no existing font directory"))}. " +
            "Install one (Debian: apt-get install fonts-dejavu-core) or point Statements:FontDirectories at a directory holding it.");
    }

    public FontResolverInfo? ResolveTypeface(string familyName, bool bold, bool italic) =>
        new(bold ? "bold" : "regular");

    public byte[]? GetFont(string faceName) => faceName == "bold" ? _bold : _regular;

    /// <summary>Installs the fonts for PDFsharp when the worker starts, or stops it with the reason.</summary>
    internal sealed class Installer(IOptions<StatementOptions> options, ILogger<Installer> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var resolver = Find(options.Value.FontDirectories);
            GlobalFontSettings.FontResolver ??= resolver;
            WarmUp();
            logger.LogInformation("Statements are set in {Font}", resolver.RegularPath);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        /// <summary>
        /// Draws and saves a throwaway page, so that parsing the fonts and compiling PDFsharp's
        /// drawing code happen at start-up rather than in the first customer's statement.
        /// </summary>
        private static void WarmUp()
        {
            using var document = new PdfSharp.Pdf.PdfDocument();
            var layout = new StatementLayout(new StatementHeading(0, default, default, DateTimeOffset.UtcNow, 1));
            new StatementPages(layout).Lines(document, 1, 1, 1,
                [new StatementLine(DateTime.UtcNow, "Zürich Łódź Αθήνα", "warm-up", "warm-up", 1.5m, "CHF")],
                new Dictionary<string, decimal>());
            document.Save(Stream.Null, false);
        }
    }
}
