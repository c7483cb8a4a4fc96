"""The cards of a FITS header that ``astropy.wcs.WCS`` reads, and nothing else.

``WCS(header)`` serialises the header it is given, parses that text twice and
serialises it twice more (wcslib is handed the text twice; SIP and
lookup-table keywords are read and deleted from parsed copies), and each
pass costs time in proportion to the number of cards.  An HST SCI header holds two to four times more cards
(photometry, calibration switches, statistics, history) than its WCS needs,
so a mosaic of hundreds of chips spends much of ``build()`` there.
:func:`wcs_header_text` keeps the cards that wcslib or ``astropy.wcs`` can
read, for every WCS key, and drops the others: the WCS made from its text is
the WCS made from the whole header.

The selection is by keyword *family* (every keyword that starts with
``CRPIX``, ``PV1``, ``DATE``...), so a keyword of a listed family is kept
whatever its axis numbers or WCS key letter; it errs on the side of keeping.
The families are those of

* wcslib's image-header parser (``wcspih``, the FITS WCS papers I-VII, with
  the non-standard forms astropy lets it accept: ``CROTAn``, ``EPOCH``,
  ``VELREF``, ``RADECSYS``, ``PROJPn``, ``PC00i00j``, ``CD00i00j``,
  ``VSOURCEa``, ``DOBSn``; the time keywords of paper VII; the solar-system
  auxiliary keywords of ``wcsaux``; the distortion keywords ``CPDISja``,
  ``CQDISia``, ``DPja``, ``DQia``, ``CPERRja``, ``CQERRia``, ``DVERRa``),
* ``astropy.wcs`` itself: SIP (``A_``, ``B_``, ``AP_``, ``BP_``), the
  lookup-table distortions (``CPDIS``, ``DP``, ``D2IMDIS``, ``D2IM``,
  ``D2IMERR``, ``D2IMEXT``, ``AXISCORR``), SCAMP's ``PVi_m`` and
  ``NAXISn`` (the image size).

HIERARCH cards are kept whole (they are rare, and a HIERARCH keyword is
found under its short name), and so is every ``CONTINUE`` card that
continues a kept card.
"""

from __future__ import annotations

import re

__all__ = ["wcs_header_text", "WCS_KEYWORD_FAMILIES"]

#: Keyword prefixes of the cards a WCS may read (see the module docstring).
WCS_KEYWORD_FAMILIES = (
    # image size and axis count
    "NAXIS", "WCSAXES",
    # linear part, projection, names and errors of the axes (papers I-III)
    "CRPIX", "CRVAL", "CTYPE", "CUNIT", "CDELT", "CROTA", "CNAME", "CRDER", "CSYER",
    "CZPHS", "CPERI", "PC0", "PC1", "PC2", "PC3", "PC4", "PC5", "PC6", "PC7", "PC8", "PC9",
    "CD0", "CD1", "CD2", "CD3", "CD4", "CD5", "CD6", "CD7", "CD8", "CD9",
    "PV", "PS", "PROJP", "LONPOLE", "LATPOLE", "WCSNAME", "WCSN",
    # celestial frame
    "RADESYS", "RADECSYS", "EQUINOX", "EPOCH",
    # spectral frame (paper III)
    "RESTFRQ", "RESTFREQ", "RESTWAV", "SPECSYS", "SSYSOBS", "SSYSSRC", "VELOSYS",
    "VELANGL", "VELREF", "ZSOURCE", "VSOURCE",
    # time and observer (paper VII)
    "DATE", "DOBS", "MJD", "JD", "BEPOCH", "JEPOCH", "TIME", "TREF", "TSTART", "TSTOP",
    "XPOSURE", "TELAPSE", "TIMSYER", "TIMRDER", "PLEPHEM", "OBSGEO", "OBSORBIT",
    # solar-system auxiliary keywords (wcsaux)
    "RSUN_REF", "DSUN_OBS", "CRLN_OBS", "CRLT_OBS", "HGLN_OBS", "HGLT_OBS", "HPLN_OBS",
    "HPLT_OBS",
    "A_RADIUS", "B_RADIUS", "C_RADIUS", "BLON_OBS", "BLAT_OBS", "BDIS_OBS",
    # distortions: SIP, paper IV lookup tables and polynomials, D2IM
    "A_", "B_", "AP_", "BP_", "CPDIS", "CQDIS", "CPERR", "CQERR", "DVERR", "DP", "DQ",
    "D2IM", "AXISCORR",
)

_KEPT_KEYWORD = re.compile("|".join(re.escape(family) for family in WCS_KEYWORD_FAMILIES))
#: FITS card length.
_CARD = 80


def wcs_header_text(header_text: str) -> str:
    """The cards of ``header_text`` that a WCS may read, in their order.

    Parameters
    ----------
    header_text : str
        A FITS header as text (``Header.tostring()``: 80-character cards,
        with or without the END card and padding).

    Returns
    -------
    str
        The kept cards, concatenated, without END; ``astropy.wcs.WCS`` gives
        from it the WCS it gives from the whole header, for any WCS key.
    """
    kept = []
    keep_continuation = False
    for start in range(0, len(header_text), _CARD):
        card = header_text[start:start + _CARD]
        keyword = card[:8].rstrip().upper()
        if keyword == "CONTINUE":
            keep = keep_continuation
        else:
            keep = keyword == "HIERARCH" or _KEPT_KEYWORD.match(keyword) is not None
            keep_continuation = keep
        if keep:
            kept.append(card)
    return "".join(kept)
