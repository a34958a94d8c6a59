//! Microsoft Cabinet files (MS-CAB) and Windows servicing packages.
