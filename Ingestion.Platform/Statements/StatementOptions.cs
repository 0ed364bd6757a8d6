using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Statements;

/// <summary>Statements and their documents. Bound from the <c>Statements</c> configuration section.</summary>
public sealed class StatementOptions
{
    public const string Section = "Statements";

    /// <summary>Longest period one statement may cover (the monthly analytics must fit their page).</summary>
    [Range(1, 3 * 366)]
    public int MaxPeriodDays { get; set; } = 3 * 366;

    /// <summary>Largest PDF that can be attached to an account.</summary>
    [Range(1, 256L * 1024 * 1024)]
    public long MaxAttachmentBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>Bytes of PDFs one account may have attached in all; an attachment beyond it is refused (409).</summary>
    [Range(1, long.MaxValue)]
    public long AttachmentQuotaBytesPerAccount { get; set; } = 200L * 1024 * 1024;

    /// <summary>Attachments one API instance opens to check at the same time (each is held whole while it is checked).</summary>
    [Range(1, 64)]
    public int ConcurrentAttachmentChecks { get; set; } = 2;

    /// <summary>How long a rendered statement stays in S3.</summary>
    public TimeSpan DocumentRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Lifetime of a download link unless the client asks for less.</summary>
    public TimeSpan DownloadLinkLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>The longest lifetime a client may ask for.</summary>
    public TimeSpan MaxDownloadLinkLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Statements one worker renders at the same time.</summary>
    [Range(1, 16)]
    public int ConcurrentJobs { get; set; } = 1;

    /// <summary>
    /// Memory one volume may take while it is built: PDFsharp holds a whole document until it
    /// is saved, so a statement larger than this is split into volumes (a ZIP of PDFs).
    /// </summary>
    [Range(1024 * 1024, 1024L * 1024 * 1024)]
    public long VolumeMemoryBudgetBytes { get; set; } = 96 * 1024 * 1024;

    /// <summary>What a page of statement lines costs in memory until its volume is saved (measured: see ARCHITECTURE.md).</summary>
    [Range(1024, 1024 * 1024)]
    public int LinePageBytes { get; set; } = 48 * 1024;

    /// <summary>Compress content streams (Flate). Off only to measure what compression saves.</summary>
    public bool CompressContent { get; set; } = true;

    /// <summary>Where TrueType fonts are looked for, before the usual system directories.</summary>
    public List<string> FontDirectories { get; set; } = [];
}
