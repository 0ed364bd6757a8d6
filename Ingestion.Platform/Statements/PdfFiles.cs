using PdfSharp.Pdf;
using PdfSharp.Pdf.IO;

namespace Ingestion.Platform.Statements;

/// <summary>Opening a PDF someone else made, to count or copy its pages.</summary>
public static class PdfFiles
{
    /// <summary>The document ready to import pages from, or null with the reason it is not a usable PDF.</summary>
    public static PdfDocument? TryOpenForImport(Stream seekable, out string problem)
    {
        problem = "";
        Span<byte> magic = stackalloc byte[5];
        if (seekable.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) < magic.Length || !magic.SequenceEqual("%PDF-"u8))
        {
            problem = "it does not start with %PDF-";
            return null;
        }

        seekable.Position = 0;
        try
        {
            var document = PdfReader.Open(seekable, PdfDocumentOpenMode.Import);
            if (document.PageCount == 0)
            {
                document.Dispose();
                problem = "it has no pages";
                return null;
            }

            return document;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The parser meets untrusted bytes: whatever it throws on them (it has thrown
            // ArgumentOutOfRangeException, not only its own PdfReaderException) means "not a PDF".
            problem = e.Message;
            return null;
        }
    }
}
